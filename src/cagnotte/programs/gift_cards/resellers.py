"""Resellers: distribution partners whose key may only activate and load some programs.

Errors: forbidden (a role below owner creates, below manager reads; a key of no
reseller; a program the reseller may not sell), not_found.
"""

from __future__ import annotations

import uuid

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import (
    FIRST_PAGE,
    Page,
    PageRequest,
)
from cagnotte.merchants.service import IssuedKey, MerchantService
from cagnotte.programs.gift_cards import setup_repository
from cagnotte.programs.gift_cards.rows import Actor, Reseller
from cagnotte.security.principals import Principal


class Resellers:
    def __init__(self, database: Database, clock: Clock, merchants: MerchantService) -> None:
        self.database = database
        self.clock = clock
        self.merchants = merchants

    def create_reseller(
        self, caller: Principal, *, name: str, email: str | None, program_ids: list[uuid.UUID]
    ) -> tuple[Reseller, IssuedKey]:
        """A distribution partner and its key, which may only activate and load these programs."""
        caller.require("owner")
        reseller_id = uuid.uuid4()
        now = self.clock.now()
        with self.database.transaction() as connection:
            for program_id in program_ids:  # each is this merchant's, or not_found
                setup_repository.program(connection, caller.merchant_id, program_id)
            # The key is issued in this transaction, so a reseller never lacks one.
            issued = self.merchants._issue_key(
                connection, caller.merchant_id, "reseller", f"reseller {name}"
            )
            setup_repository.insert_reseller(
                connection,
                {
                    "merchant_id": caller.merchant_id,
                    "id": reseller_id,
                    "name": name,
                    "email": email,
                    "api_key_id": issued.id,
                    "created_at": now,
                },
                set(program_ids),
            )
            record_audit(
                connection,
                caller.merchant_id,
                caller.actor,
                "gift_card_reseller.created",
                reseller_id,
                {"name": name},
                now,
            )
        return self.get_reseller(caller, reseller_id), issued

    def get_reseller(self, caller: Principal, reseller_id: uuid.UUID) -> Reseller:
        """A reseller, for the merchant's managers, or for the reseller itself."""
        if caller.role == "reseller":
            if self.reseller_of(caller).id != reseller_id:
                raise errors.NotFound(setup_repository.NO_SUCH_RESELLER)
        else:
            caller.require("manager")
        with self.database.read() as connection:
            return setup_repository.reseller(connection, caller.merchant_id, reseller_id)

    def list_resellers(self, caller: Principal, page: PageRequest = FIRST_PAGE) -> Page[Reseller]:
        """The merchant's resellers, oldest first."""
        caller.require("manager")
        with self.database.read() as connection:
            return setup_repository.resellers(connection, caller.merchant_id, page)

    def reseller_of(self, caller: Principal) -> Reseller:
        """The reseller a reseller key belongs to."""
        assert caller.role == "reseller"
        with self.database.read() as connection:
            reseller = setup_repository.reseller_by_key(
                connection, caller.merchant_id, caller.key_id
            )
        if reseller is None:
            raise errors.Forbidden("This key belongs to no reseller.")
        return reseller

    def program_ids_of(self, caller: Principal) -> set[uuid.UUID]:
        """The programs a reseller key may sell."""
        return set(self.reseller_of(caller).program_ids)

    def require_seller(self, caller: Principal, program_id: uuid.UUID) -> None:
        """Cashiers and above sell any program; a reseller only those it was given."""
        if caller.role == "reseller":
            if program_id not in self.program_ids_of(caller):
                raise errors.Forbidden("This reseller may not sell this program's cards.")
            return
        caller.require("cashier")

    def actor_of(self, caller: Principal) -> Actor:
        """How an operation's log row names the caller (and its reseller, if a reseller)."""
        reseller_id = self.reseller_of(caller).id if caller.role == "reseller" else None
        return Actor(
            actor=caller.actor,
            store_id=caller.store_id,
            terminal_id=caller.terminal_id,
            reseller_id=reseller_id,
        )

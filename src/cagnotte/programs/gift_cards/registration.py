"""Registering a card to a member, and the program's bonus for a completed profile.

A register registers a card for a member with the card's number and PIN; a
signed-in customer registers their own. Once a registered member's profile is
complete, the program's profile bonus is credited, once per member and program.

Errors: gift_card_invalid, too_many_attempts, gift_card_already_registered, profile_incomplete,
profile_bonus_already_given, balance_limit_exceeded, not_found, invalid_input,
forbidden.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.crm.service import CustomerService
from cagnotte.db.unit_of_work import Idempotency, UnitOfWork, UnitsOfWork
from cagnotte.programs.gift_cards import plans, repository, rules
from cagnotte.programs.gift_cards.finding import CardFinder, FoundCard
from cagnotte.programs.gift_cards.operating import CardOperations
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.tender import LockedCard
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.programs.tenders import Plan
from cagnotte.security.principals import Principal


class Registration:
    def __init__(
        self,
        units: UnitsOfWork,
        customers: CustomerService,
        finder: CardFinder,
        operations: CardOperations,
        queries: CardQueries,
    ) -> None:
        self.units = units
        self.customers = customers
        self.finder = finder
        self.operations = operations
        self.queries = queries

    def register_card(
        self, caller: Principal, *, membership_id: uuid.UUID, number: str, pin: str | None
    ) -> dict[str, Any]:
        """Attach a card to a member (number and PIN prove the card is theirs)."""
        caller.require("cashier")
        self.customers.require_membership(caller.merchant_id, membership_id)
        found = self.finder.find(caller, number, pin=pin)
        self._attach_to_member(caller, found, membership_id)
        return self.queries.get_card(caller, found.card.id, check_role=False)

    def register_own_card(
        self, customer_id: uuid.UUID, *, merchant_id: uuid.UUID, number: str, pin: str
    ) -> dict[str, Any]:
        """A signed-in customer registers a card to their own membership at this merchant.

        The PIN is what proves the card is theirs, so a card of a program without
        PINs (whose number alone is printed on it) cannot be registered this way:
        it gets the same gift_card_invalid as a wrong number or PIN. Wrong PINs
        count towards the card's lockout as at a register.
        """
        membership = next(
            (
                m
                for m in self.customers.memberships_of(customer_id)
                if m["merchant_id"] == merchant_id and m["status"] != "blocked"
            ),
            None,
        )
        if membership is None:
            raise errors.NotFound("No such membership.")
        # The customer acts with a register's rights for this one registration.
        caller = Principal(merchant_id=merchant_id, role="cashier", customer_id=customer_id)
        found = self.finder.find(caller, number, pin=pin)
        if not found.program.pin_required:
            raise errors.GiftCardInvalid()
        self._attach_to_member(caller, found, membership["id"])
        return self.queries.get_card(caller, found.card.id, check_role=False)

    def give_profile_bonus(
        self, caller: Principal, *, membership_id: uuid.UUID, card_id: uuid.UUID
    ) -> CardOperation:
        """The program's bonus for a completed profile, once per member and program."""
        caller.require("cashier")
        membership = self.customers.get(caller, membership_id)
        if not rules.profile_complete(membership):
            raise errors.ProfileIncomplete()

        def plan(locked: LockedCard) -> Plan:
            given = repository.profile_bonus_given(
                locked.unit.connection, locked.facts.program, membership_id
            )
            return plans.profile_bonus(
                locked.facts,
                locked.accounts,
                locked.actor,
                membership_id=membership_id,
                already_given=given,
            )

        program = self.queries.program_of_card(caller, card_id)
        return self.operations.operate(
            caller, program, card_id, "profile_bonus", plan, Idempotency()
        )

    def _attach_to_member(
        self, caller: Principal, found: FoundCard, membership_id: uuid.UUID
    ) -> None:
        """Register the card to the member (once), then give the profile bonus if due."""
        card_id = found.card.id

        def work(unit: UnitOfWork) -> None:
            card = repository.lock_card(unit, card_id)
            if card.membership_id not in (None, membership_id):
                raise errors.GiftCardAlreadyRegistered()
            if card.membership_id is None:
                repository.update_card(
                    unit.connection,
                    card,
                    {
                        "membership_id": membership_id,
                        "registered_at": unit.now,
                    },
                )
                record_audit(
                    unit.connection,
                    unit.merchant_id,
                    caller.actor,
                    "gift_card.registered",
                    card_id,
                    {"membership_id": str(membership_id)},
                    unit.now,
                )

        self.units.run(caller.merchant_id, "gift_card_registration", work)
        membership = self.customers.get(caller, membership_id)
        if found.program.profile_bonus_minor and rules.profile_complete(membership):
            with contextlib.suppress(errors.ProfileBonusAlreadyGiven):
                self.give_profile_bonus(caller, membership_id=membership_id, card_id=card_id)

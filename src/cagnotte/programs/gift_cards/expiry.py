"""The expiry job: cards past their expiry close, and what they held goes to breakage."""

from __future__ import annotations

import uuid

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.unit_of_work import UnitOfWork, UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.programs.gift_cards import plans, repository
from cagnotte.programs.gift_cards.accounts import CardAccounts, ProgramAccounts
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.operating import CardOperations
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.rows import Actor
from cagnotte.programs.gift_cards.tender import card_facts
from cagnotte.programs.gift_cards.views import CardOperation

EXPIRY_BATCH_SIZE = 500
EXPIRY_ACTOR = Actor(actor="job:expiry")


class CardExpiry:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        units: UnitsOfWork,
        ledger: Ledger,
        accounts: CardAccounts,
        programs: ProgramCatalogue,
        operations: CardOperations,
        alerts: GiftCardAlerts,
    ) -> None:
        self.database = database
        self.clock = clock
        self.units = units
        self.ledger = ledger
        self.accounts = accounts
        self.programs = programs
        self.operations = operations
        self.alerts = alerts

    def expire_cards(self, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
        """Close cards past their expiry; what they held goes to the merchant's breakage."""
        with self.database.read() as connection:
            due = repository.cards_due_to_expire(connection, self.clock.now(), batch_size)
        for merchant_id, card_id in due:
            operation = self._expire_card(merchant_id, card_id)
            if operation is not None:
                self.alerts.after_operation(operation)
        return len(due)

    def _expire_card(self, merchant_id: uuid.UUID, card_id: uuid.UUID) -> CardOperation | None:
        with self.database.read() as connection:
            program_id = repository.card(connection, merchant_id, card_id).program_id
        accounts = self.accounts.of_program(self.programs.program(merchant_id, program_id))
        return self.units.run(
            merchant_id,
            "gift_card_expiry",
            lambda unit: self._expire_card_in(unit, card_id, accounts),
        )

    def _expire_card_in(
        self, unit: UnitOfWork, card_id: uuid.UUID, accounts: ProgramAccounts
    ) -> CardOperation | None:
        card = repository.lock_card(unit, card_id)
        if card.state not in ("active", "frozen"):
            return None  # closed meanwhile
        program = self.programs.program(unit.merchant_id, card.program_id, unit.connection)
        facts = card_facts(unit, self.accounts, card, program)
        holds = repository.open_holds(unit.connection, card)
        plan = plans.expiry(facts, accounts, EXPIRY_ACTOR, holds)
        # A frozen card's account thaws for its last entry, and freezes for good after it.
        if card.state == "frozen":
            self.ledger.set_frozen(unit.connection, unit.merchant_id, [card.account_id], False)
        (operation,) = self.operations.commit(unit, plan, kind="gift_card_expiry")
        self.ledger.set_frozen(unit.connection, unit.merchant_id, [card.account_id], True)
        return operation

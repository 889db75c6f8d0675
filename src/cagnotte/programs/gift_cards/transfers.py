"""A balance transfer: the whole balance of a lost or damaged card moves to a new one.

The old card closes (and its account freezes); the new one is activated if it
was not, and inherits the old one's member. Both cards' rows are locked in the
global order, so two transfers between the same cards never wait on each other.

The new card is named by its number alone: a frozen or closed one is
gift_card_invalid, the answer of no card (finding.py).

Errors: gift_card_invalid, too_many_attempts, gift_card_closed, gift_card_frozen,
gift_card_has_holds, invalid_input (the same card twice, two currencies),
forbidden, idempotency_key_reused.
"""

from __future__ import annotations

import uuid

from cagnotte import errors
from cagnotte.audit import record_audit
from cagnotte.db.unit_of_work import Idempotency, UnitOfWork, UnitsOfWork
from cagnotte.ledger import Ledger
from cagnotte.programs.gift_cards import plans, repository
from cagnotte.programs.gift_cards.accounts import CardAccounts
from cagnotte.programs.gift_cards.alerts import GiftCardAlerts
from cagnotte.programs.gift_cards.finding import CardFinder
from cagnotte.programs.gift_cards.operating import CardOperations
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.rows import Actor, CardRow
from cagnotte.programs.gift_cards.tender import card_facts
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.security.principals import Principal

OPERATION = "gift_card_balance_transfer"


class BalanceTransfers:
    def __init__(
        self,
        units: UnitsOfWork,
        ledger: Ledger,
        accounts: CardAccounts,
        programs: ProgramCatalogue,
        finder: CardFinder,
        resellers: Resellers,
        operations: CardOperations,
        alerts: GiftCardAlerts,
    ) -> None:
        self.units = units
        self.ledger = ledger
        self.accounts = accounts
        self.programs = programs
        self.finder = finder
        self.resellers = resellers
        self.operations = operations
        self.alerts = alerts

    def transfer_balance(
        self,
        caller: Principal,
        *,
        to_number: str,
        from_card_id: uuid.UUID | None = None,
        from_number: str | None = None,
        from_pin: str | None = None,
        idempotency: Idempotency,
    ) -> tuple[CardOperation, CardOperation]:
        """Move the whole balance of a lost or damaged card to a new one; the old one closes.

        The back office names the old card by id (manager); a register by number and PIN.
        """
        caller.require("manager" if from_card_id is not None else "cashier")
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0], replay[1]
        if from_card_id is None:
            assert from_number is not None
            from_card_id = self.finder.find(caller, from_number, pin=from_pin).card.id
        target = self.finder.find_by_number(caller, to_number, _may_receive)
        if target.card.id == from_card_id:
            raise errors.InvalidInput("The new card must be another card.")
        actor = self.resellers.actor_of(caller)
        to_card_id = target.card.id
        out, into = self.units.run(
            caller.merchant_id,
            OPERATION,
            lambda unit: self._transfer_in(unit, caller, actor, from_card_id, to_card_id),
            idempotency=idempotency,
            encode=lambda pair: {"operations": [operation.as_json() for operation in pair]},
            replay=lambda unit, stored: tuple(self.operations.replayed(unit, stored)),
        )
        if not out.replayed:
            self.operations.alert(out, into)
        return out, into

    def _transfer_in(
        self,
        unit: UnitOfWork,
        caller: Principal,
        actor: Actor,
        from_card_id: uuid.UUID,
        to_card_id: uuid.UUID,
    ) -> tuple[CardOperation, CardOperation]:
        locked = repository.lock_cards(unit, (from_card_id, to_card_id))
        if from_card_id not in locked:  # another merchant's card id, from the back office
            raise errors.NotFound(repository.NO_SUCH_CARD)
        old, new = locked[from_card_id], locked[to_card_id]
        programs = self.programs
        old_program = programs.program(unit.merchant_id, old.program_id, unit.connection)
        new_program = programs.program(unit.merchant_id, new.program_id, unit.connection)
        old_facts = card_facts(unit, self.accounts, old, old_program)
        new_facts = card_facts(unit, self.accounts, new, new_program)
        plan = plans.balance_transfer(old_facts, new_facts, actor)
        out, into = self.operations.commit(unit, plan, kind=OPERATION)
        self.ledger.set_frozen(unit.connection, unit.merchant_id, [old.account_id], frozen=True)
        record_audit(
            unit.connection,
            unit.merchant_id,
            caller.actor,
            "gift_card.balance_transferred",
            old.id,
            {"to_card_id": str(new.id), "amount": out.amount_minor},
            unit.now,
        )
        return out, into


def _may_receive(card: CardRow, _program: Program) -> bool:
    """A balance moves to a new card, or an active one (named by its number alone)."""
    return card.state in ("inactive", "active")

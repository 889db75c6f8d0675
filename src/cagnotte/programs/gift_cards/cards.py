"""Putting value on a card: activation (with its first load), reload, a manager's correction.

Errors: gift_card_invalid, gift_card_inactive, gift_card_frozen,
gift_card_closed, gift_card_not_reloadable, conflict (activating an active
card), load_out_of_range, balance_limit_exceeded, operation_amount_exceeded,
daily_limit_exceeded, invoice_required, invoice_reused, insufficient_funds
(a correction beyond the balance), forbidden, idempotency_key_reused.
"""

from __future__ import annotations

import uuid

from cagnotte.db.unit_of_work import Idempotency
from cagnotte.programs.gift_cards import plans
from cagnotte.programs.gift_cards.finding import CardFinder
from cagnotte.programs.gift_cards.operating import Audit, CardOperations, Planner
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.tender import LockedCard
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.programs.tenders import Plan
from cagnotte.security.principals import Principal


def activation_planner(amount: int | None, invoice_number: str | None) -> Planner:
    """What activating a locked card does: its state, and its first load if an amount is given."""

    def plan(locked: LockedCard) -> Plan:
        return plans.activation(
            locked.facts, locked.accounts, locked.actor, amount, locked.invoice(invoice_number)
        )

    return plan


class CardLoading:
    def __init__(
        self,
        finder: CardFinder,
        operations: CardOperations,
        resellers: Resellers,
        queries: CardQueries,
    ) -> None:
        self.finder = finder
        self.operations = operations
        self.resellers = resellers
        self.queries = queries

    def activate(
        self,
        caller: Principal,
        *,
        number: str,
        amount: int | None,
        invoice_number: str | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Activate an inactive card, with its first load when an amount is given."""
        found = self.finder.find(caller, number, pin=None, pin_needed=False)
        self.resellers.require_seller(caller, found.program.id)
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        return self.activate_card(
            caller, found.program, found.card.id, amount, invoice_number, idempotency
        )

    def activate_card(
        self,
        caller: Principal,
        program: Program,
        card_id: uuid.UUID,
        amount: int | None,
        invoice_number: str | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Activate a card named by its id (a batch's card)."""
        return self.operations.operate(
            caller,
            program,
            card_id,
            "activation",
            activation_planner(amount, invoice_number),
            idempotency,
        )

    def load(
        self,
        caller: Principal,
        *,
        number: str,
        amount: int,
        invoice_number: str | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Reload an active card (when the program allows), within the limits."""
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        found = self.finder.find(caller, number, pin=None, pin_needed=False)
        self.resellers.require_seller(caller, found.program.id)

        def plan(locked: LockedCard) -> Plan:
            return plans.load(
                locked.facts, locked.accounts, locked.actor, amount, locked.invoice(invoice_number)
            )

        return self.operations.operate(
            caller, found.program, found.card.id, "load", plan, idempotency
        )

    def adjust(
        self,
        caller: Principal,
        card_id: uuid.UUID,
        *,
        amount: int,
        direction: str,
        reason: str,
        idempotency: Idempotency,
    ) -> CardOperation:
        """A manager's correction of a card's balance, with a reason (audited, alerted)."""
        caller.require("manager")
        assert direction in ("credit", "debit")
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]

        def plan(locked: LockedCard) -> Plan:
            return plans.adjustment(
                locked.facts,
                locked.accounts,
                locked.actor,
                amount=amount,
                direction=direction,
                reason=reason,
            )

        program = self.queries.program_of_card(caller, card_id)
        audit = Audit(
            "gift_card.adjusted", {"amount": amount, "direction": direction, "reason": reason}
        )
        return self.operations.operate(
            caller, program, card_id, "adjustment", plan, idempotency, audit=audit
        )

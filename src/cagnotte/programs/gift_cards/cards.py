"""Putting value on a card: activation (with its first load), reload, a manager's correction.

An activation and a load name the card by its number alone, so they answer the
same for a card and for no card until they go through: what every program the
caller may use refuses (an amount outside all their load ranges, a missing
invoice number) is refused before the look-up, for any number; the look-up
finds only a card the operation may act on (an inactive card to activate, an
active card of a reloadable program to load), else gift_card_invalid, counted
as a failed look-up (finding.py). What is left to tell a card from no card (a
limit of the card's own program, of its balance or of its day) can only be
tried on a number already found, and the misses that find it are counted.

Errors: gift_card_invalid, too_many_attempts, gift_card_inactive,
gift_card_frozen, gift_card_closed, conflict (a card activated meanwhile),
load_out_of_range, balance_limit_exceeded, operation_amount_exceeded,
daily_limit_exceeded, invoice_required, invoice_reused, insufficient_funds
(a correction beyond the balance), forbidden, idempotency_key_reused.
"""

from __future__ import annotations

import uuid

from cagnotte.db.unit_of_work import Idempotency
from cagnotte.programs.gift_cards import plans, rules
from cagnotte.programs.gift_cards.finding import CardFinder
from cagnotte.programs.gift_cards.operating import Audit, CardOperations, Planner
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.programs_admin import ProgramCatalogue
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.rows import CardRow
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
        programs: ProgramCatalogue,
    ) -> None:
        self.finder = finder
        self.operations = operations
        self.resellers = resellers
        self.queries = queries
        self.programs = programs

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
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        rules.check_before_look_up(self.programs.list_programs(caller), amount, invoice_number)
        found = self.finder.find_by_number(caller, number, _may_activate)
        self.resellers.require_seller(caller, found.program.id)
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
        reloadable = [p for p in self.programs.list_programs(caller) if p.reloadable]
        rules.check_before_look_up(reloadable, amount, invoice_number)
        found = self.finder.find_by_number(caller, number, _may_load)
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


def _may_activate(card: CardRow, _program: Program) -> bool:
    return card.state == "inactive"


def _may_load(card: CardRow, program: Program) -> bool:
    return card.state == "active" and program.reloadable

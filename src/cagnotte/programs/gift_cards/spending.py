"""Paying with a card at the register or the e-store: spend, authorise, capture, void, refund.

Also the balance inquiry, and `payment_card`: a card made ready to pay part of
a check, whose plan the check asks the tender for inside its own unit of work.

Errors: gift_card_invalid (wrong number, wrong PIN, locked card, another
merchant's card: one answer), too_many_attempts (a terminal whose failed
look-ups are spent, finding.py), gift_card_inactive, gift_card_frozen,
gift_card_closed, operation_amount_exceeded, daily_limit_exceeded,
insufficient_funds, invoice_required, invoice_reused, not_found (no such
operation), forbidden, idempotency_key_reused, and the ledger's errors for
holds and reversals (pending_transfer_expired, reversal_exceeds_transfer …).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cagnotte import errors
from cagnotte.db.unit_of_work import Idempotency, UnitOfWork
from cagnotte.programs.gift_cards import plans, repository
from cagnotte.programs.gift_cards.accounts import CardAccounts, ProgramAccounts
from cagnotte.programs.gift_cards.finding import CardFinder, NotInUnit, WrongPin
from cagnotte.programs.gift_cards.operating import (
    CardOperations,
    Planner,
    invoice_race_means_reused,
)
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.queries import CardQueries
from cagnotte.programs.gift_cards.resellers import Resellers
from cagnotte.programs.gift_cards.rows import Actor
from cagnotte.programs.gift_cards.tender import LockedCard
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.programs.tenders import Plan
from cagnotte.security.principals import Principal


@dataclass(frozen=True, slots=True)
class PaymentCard:
    """A card ready to pay: found by number and PIN, its accounts open, its caller named.

    Made before the unit of work that pays; inside it, lock the card by
    `card_id` and ask GiftCardTender.plan_spend for the plan.
    """

    card_id: uuid.UUID
    program: Program
    accounts: ProgramAccounts
    actor: Actor


class Spending:
    def __init__(
        self,
        finder: CardFinder,
        operations: CardOperations,
        accounts: CardAccounts,
        resellers: Resellers,
        queries: CardQueries,
    ) -> None:
        self.finder = finder
        self.operations = operations
        self.accounts = accounts
        self.resellers = resellers
        self.queries = queries
        # The accounts of the programs whose cards were paid with (opened by the long
        # way, in transactions of their own): a unit of work never opens one.
        self._accounts: dict[uuid.UUID, ProgramAccounts] = {}

    def spend(
        self,
        caller: Principal,
        *,
        number: str,
        pin: str | None,
        amount: int,
        invoice_number: str | None,
        take_what_is_there: bool,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Pay with the card: all of `amount`, or, when asked, what it holds and the rest due."""
        caller.require("cashier")

        def plan(locked: LockedCard) -> Plan:
            return plans.spend(
                locked.facts,
                locked.accounts,
                locked.actor,
                amount,
                locked.invoice(invoice_number),
                take_what_is_there=take_what_is_there,
            )

        return self._operate_with_pin(caller, number, pin, "spend", plan, idempotency)

    def _operate_with_pin(
        self,
        caller: Principal,
        number: str,
        pin: str | None,
        kind: str,
        plan: Planner,
        idempotency: Idempotency,
    ) -> CardOperation:
        """An operation on the card of this number and PIN: in one unit of work when it can be."""
        if pin is not None and caller.role != "reseller":
            try:
                return self._in_one_unit(caller, number, pin, kind, plan, idempotency)
            except NotInUnit:
                pass  # rolled back, nothing counted: the long way answers it
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        found = self.finder.find(caller, number, pin=pin, defer_pin_rehash=True)
        self._accounts[found.program.id] = self.accounts.of_program(found.program)
        return self.operations.operate(
            caller,
            found.program,
            found.card.id,
            kind,
            plan,
            idempotency,
            pin_rehash=found.pin_rehash,
        )

    def _in_one_unit(
        self,
        caller: Principal,
        number: str,
        pin: str,
        kind: str,
        plan: Planner,
        idempotency: Idempotency,
    ) -> CardOperation:
        """The replay, the look-up, the PIN, the operation: one transaction, one connection.

        What the long way does in five transactions (the replay's look-up, the
        card's, the PIN attempt reserved, its outcome, the operation) is done in
        the operation's unit of work (finding.CardFinder.find_in_unit). A wrong
        PIN commits its count and releases the Idempotency-Key, as if the unit
        had claimed none, then is refused. A program's accounts are opened in
        transactions of their own by the long way, the first time.
        """
        self.finder.prepare_keys()
        actor = self.resellers.actor_of(caller)

        def work(unit: UnitOfWork) -> CardOperation | WrongPin:
            found = self.finder.find_in_unit(unit, caller, number, pin)
            if isinstance(found, WrongPin):
                if idempotency.key is not None:
                    repository.release_idempotency_key(
                        unit.connection, unit.merchant_id, idempotency.key
                    )
                return found
            accounts = self._accounts.get(found.program.id)
            if accounts is None:
                raise NotInUnit()
            return self.operations.on_locked_card(unit, found.card, accounts, actor, kind, plan)

        with invoice_race_means_reused():
            outcome = self.operations.units.run(
                caller.merchant_id,
                f"gift_card_{kind}",
                work,
                idempotency=idempotency,
                encode=_answer_of,
                replay=lambda unit, stored: self.operations.replayed(unit, stored)[0],
            )
        if isinstance(outcome, WrongPin):
            self.finder.after_wrong_pin(outcome)
            raise errors.GiftCardInvalid()
        if not outcome.replayed:
            self.operations.alert(outcome)
        return outcome

    def payment_card(self, caller: Principal, *, number: str, pin: str | None) -> PaymentCard:
        """A card made ready to pay part of a check (number and PIN checked here)."""
        caller.require("cashier")
        found = self.finder.find(caller, number, pin=pin)
        return PaymentCard(
            card_id=found.card.id,
            program=found.program,
            accounts=self.accounts.of_program(found.program),
            actor=self.resellers.actor_of(caller),
        )

    def balance_inquiry(self, caller: Principal, *, number: str, pin: str | None) -> dict[str, Any]:
        """The card's balance, for the number and PIN (a check counted per terminal)."""
        caller.require("cashier")
        found = self.finder.find(caller, number, pin=pin)
        self.finder.record_lookup(caller, found.card.number_hash, succeeded=True)
        return self.queries.view(found.card)

    def authorise(
        self,
        caller: Principal,
        *,
        number: str,
        pin: str | None,
        amount: int,
        invoice_number: str | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """The first phase of a two-phase spend: hold the amount on the card (PIN checked here)."""
        caller.require("cashier")

        def plan(locked: LockedCard) -> Plan:
            return plans.authorisation(
                locked.facts, locked.accounts, locked.actor, amount, locked.invoice(invoice_number)
            )

        return self._operate_with_pin(caller, number, pin, "authorisation", plan, idempotency)

    def capture(
        self,
        caller: Principal,
        authorisation_id: uuid.UUID,
        amount: int | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Take (part of) an authorised amount; the rest of the hold is released."""
        caller.require("cashier")
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        authorisation, program = self.operations.operation(
            caller, authorisation_id, ("authorisation",)
        )

        def plan(locked: LockedCard) -> Plan:
            return plans.capture(locked.facts, locked.actor, authorisation, amount)

        return self.operations.operate(
            caller, program, authorisation.card_id, "capture", plan, idempotency
        )

    def void(
        self, caller: Principal, authorisation_id: uuid.UUID, idempotency: Idempotency
    ) -> CardOperation:
        """Release an authorisation without taking anything."""
        caller.require("cashier")
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        authorisation, program = self.operations.operation(
            caller, authorisation_id, ("authorisation",)
        )

        def plan(locked: LockedCard) -> Plan:
            return plans.void(locked.facts, locked.actor, authorisation)

        return self.operations.operate(
            caller, program, authorisation.card_id, "void", plan, idempotency
        )

    def refund(
        self,
        caller: Principal,
        spend_id: uuid.UUID,
        amount: int | None,
        idempotency: Idempotency,
    ) -> CardOperation:
        """Give (part of) a spend or capture back to the card; refunds add up to at most it."""
        caller.require("cashier")
        replay = self.operations.replay(caller.merchant_id, idempotency)
        if replay:
            return replay[0]
        spend, program = self.operations.operation(caller, spend_id, ("spend", "capture"))

        def plan(locked: LockedCard) -> Plan:
            # Read with the card locked: no other refund of this spend is under way.
            refunded = repository.refunded_minor(locked.unit.connection, spend)
            return plans.refund(locked.facts, locked.actor, spend, amount, refunded_minor=refunded)

        return self.operations.operate(caller, program, spend.card_id, "refund", plan, idempotency)


def _answer_of(outcome: CardOperation | WrongPin) -> dict[str, Any]:
    """The answer stored with the key; a wrong PIN released its key and stores none."""
    return outcome.as_json() if isinstance(outcome, CardOperation) else {}

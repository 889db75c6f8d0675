"""What each operation on a gift card would do: a plan, from the facts, without writing.

Every function here is pure: it takes what the unit of work read about the card
(its row locked: `CardFacts`), the accounts opened before the unit, and the
request, and returns a `tenders.Plan` — the ledger operations, the card's new
row values and the operation's log row — or raises the domain error that says
no. The log row names the unit's journal entry and the transfer by the ids
chosen before anything is posted, and foresees the card's balance after it;
`check_landed` compares that with what the ledger then did.

The errors of each operation come in the order they are checked here: the
card's state, the amounts, the daily limits, then the invoice number.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cagnotte import errors
from cagnotte.ledger import (
    Balance,
    EntryResult,
    Hold,
    Operation,
    PostHold,
    Reverse,
    Transfer,
    VoidHold,
)
from cagnotte.programs.gift_cards import rules
from cagnotte.programs.gift_cards.accounts import ProgramAccounts
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.rows import Actor, CardRow, OperationRow
from cagnotte.programs.gift_cards.rules import DayActivity
from cagnotte.programs.gift_cards.tables import gift_card_operations, gift_cards
from cagnotte.programs.gift_cards.views import CardOperation
from cagnotte.programs.tenders import Plan, RowChange, RowInsert, RowUpdate

TENDER = "gift_card"


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What a plan knows of one card, read in the unit of work with the card's row locked."""

    card: CardRow
    program: Program
    balance: Balance
    # What the card did today; empty unless the program has daily limits.
    today: DayActivity
    now: datetime
    entry_id: uuid.UUID
    # The merchant's local day at `now`: the day an operation counts in (daily
    # limits, the activity report).
    business_date: date


@dataclass(frozen=True, slots=True)
class Invoice:
    """The POS invoice number an operation names, and whether the merchant has used it."""

    number: str | None = None
    used: bool = False


@dataclass(frozen=True, slots=True)
class _Logged:
    """What an operation does to one card: its row's new values and its log row."""

    facts: CardFacts
    row: OperationRow
    changes: Mapping[str, Any] = field(default_factory=dict)


# Putting value on a card ------------------------------------------------------------


def activation(
    facts: CardFacts,
    accounts: ProgramAccounts,
    actor: Actor,
    amount: int | None,
    invoice: Invoice,
) -> Plan:
    """Activate an inactive card, with its first load when an amount is given."""
    card, program, now = facts.card, facts.program, facts.now
    if card.state != "inactive":
        raise errors.Conflict("The card is active already.")
    moves: tuple[Operation, ...] = ()
    if amount:
        rules.check_load(program, amount, facts.balance.credit_balance, first_load=True)
        rules.check_daily_load(program, facts.today, amount)
        moves = (_load_transfer(accounts, card, amount),)
    _check_invoice(program, invoice)
    changes = {
        "state": "active",
        "activated_at": now,
        "expires_at": rules.card_expiry(program, now),
    }
    row = _row(
        facts,
        actor,
        "activation",
        moves,
        amount=amount or 0,
        balance_after=facts.balance.credit_balance + (amount or 0),
        invoice_number=invoice.number,
    )
    return _plan(moves, [_Logged(facts, row, changes)])


def load(
    facts: CardFacts, accounts: ProgramAccounts, actor: Actor, amount: int, invoice: Invoice
) -> Plan:
    """Reload an active card (when the program allows), within the limits."""
    rules.require_usable(facts.card.state)
    rules.check_load(facts.program, amount, facts.balance.credit_balance, first_load=False)
    rules.check_daily_load(facts.program, facts.today, amount)
    _check_invoice(facts.program, invoice)
    moves = (_load_transfer(accounts, facts.card, amount),)
    row = _row(
        facts,
        actor,
        "load",
        moves,
        amount=amount,
        balance_after=facts.balance.credit_balance + amount,
        invoice_number=invoice.number,
    )
    return _plan(moves, [_Logged(facts, row)])


def adjustment(
    facts: CardFacts,
    accounts: ProgramAccounts,
    actor: Actor,
    *,
    amount: int,
    direction: str,
    reason: str,
) -> Plan:
    """A manager's correction of the balance, either way, with a reason."""
    assert direction in ("credit", "debit")
    card = facts.card
    if card.state == "closed":
        raise errors.GiftCardClosed()
    balance = facts.balance.credit_balance
    if direction == "credit" and balance + amount > facts.program.balance_max_minor:
        raise errors.BalanceLimitExceeded()
    debit, credit = (
        (accounts.adjustments.id, card.account_id)
        if direction == "credit"
        else (card.account_id, accounts.adjustments.id)
    )
    moves = (Transfer(debit, credit, amount, f"manual_{direction}", reason[:200]),)
    after = balance + amount if direction == "credit" else balance - amount
    row = _row(facts, actor, "adjustment", moves, amount=amount, balance_after=after)
    return _plan(moves, [_Logged(facts, row)])


def profile_bonus(
    facts: CardFacts,
    accounts: ProgramAccounts,
    actor: Actor,
    *,
    membership_id: uuid.UUID,
    already_given: bool,
) -> Plan:
    """The program's bonus for a member's completed profile, once per member and program."""
    card, program = facts.card, facts.program
    if card.membership_id != membership_id:
        raise errors.NotFound("No such card for this member.")
    rules.require_usable(card.state)
    if not program.profile_bonus_minor:
        raise errors.InvalidInput("The program offers no profile bonus.")
    if already_given:
        raise errors.ProfileBonusAlreadyGiven()
    bonus = program.profile_bonus_minor
    if facts.balance.credit_balance + bonus > program.balance_max_minor:
        raise errors.BalanceLimitExceeded()
    moves = (Transfer(accounts.promotions.id, card.account_id, bonus, "gift_card_profile_bonus"),)
    row = _row(
        facts,
        actor,
        "profile_bonus",
        moves,
        amount=bonus,
        balance_after=facts.balance.credit_balance + bonus,
    )
    return _plan(moves, [_Logged(facts, row, {"profile_bonus_at": facts.now})])


# Paying with a card -----------------------------------------------------------------


def spend(
    facts: CardFacts,
    accounts: ProgramAccounts,
    actor: Actor,
    amount: int,
    invoice: Invoice,
    *,
    take_what_is_there: bool = False,
    reference: str | None = None,
) -> Plan:
    """Pay with the card: all of `amount`, or, when asked, what it holds (the rest is due)."""
    rules.require_usable(facts.card.state)
    rules.check_operation_amount(facts.program, amount)
    taken = rules.spend_amount(
        amount, facts.balance.available, take_what_is_there=take_what_is_there
    )
    rules.check_daily_spend(facts.program, facts.today, taken)
    _check_invoice(facts.program, invoice)
    moves = (
        Transfer(
            facts.card.account_id, accounts.settlement.id, taken, "gift_card_spend", reference
        ),
    )
    row = _row(
        facts,
        actor,
        "spend",
        moves,
        amount=taken,
        requested=amount,
        balance_after=facts.balance.credit_balance - taken,
        invoice_number=invoice.number,
    )
    return _plan(moves, [_Logged(facts, row)])


def authorisation(
    facts: CardFacts, accounts: ProgramAccounts, actor: Actor, amount: int, invoice: Invoice
) -> Plan:
    """Hold the amount on the card until it is captured, voided or lapses."""
    rules.require_usable(facts.card.state)
    rules.check_operation_amount(facts.program, amount)
    rules.check_daily_spend(facts.program, facts.today, amount)
    _check_invoice(facts.program, invoice)
    expires_at = facts.now + timedelta(minutes=facts.program.authorisation_minutes)
    moves = (
        Hold(
            facts.card.account_id,
            accounts.settlement.id,
            amount,
            "gift_card_authorisation",
            expires_at,
        ),
    )
    row = _row(
        facts,
        actor,
        "authorisation",
        moves,
        amount=amount,
        balance_after=facts.balance.credit_balance,
        invoice_number=invoice.number,
        hold_expires_at=expires_at,
    )
    return _plan(moves, [_Logged(facts, row)])


def capture(
    facts: CardFacts, actor: Actor, authorisation: OperationRow, amount: int | None
) -> Plan:
    """Take (part of) an authorised amount; the rest of the hold is released."""
    assert authorisation.kind == "authorisation" and authorisation.transfer_id is not None
    taken = amount if amount is not None else authorisation.amount_minor
    moves = (PostHold(authorisation.transfer_id, amount),)
    row = _row(
        facts,
        actor,
        "capture",
        moves,
        amount=taken,
        balance_after=facts.balance.credit_balance - taken,
        related_id=authorisation.id,
    )
    return _plan(moves, [_Logged(facts, row)])


def void(facts: CardFacts, actor: Actor, authorisation: OperationRow) -> Plan:
    """Release an authorisation without taking anything."""
    assert authorisation.kind == "authorisation" and authorisation.transfer_id is not None
    moves = (VoidHold(authorisation.transfer_id),)
    row = _row(
        facts,
        actor,
        "void",
        moves,
        amount=authorisation.amount_minor,
        balance_after=facts.balance.credit_balance,
        related_id=authorisation.id,
    )
    return _plan(moves, [_Logged(facts, row)])


def refund(
    facts: CardFacts,
    actor: Actor,
    spend: OperationRow,
    amount: int | None,
    *,
    refunded_minor: int,
) -> Plan:
    """Give (part of) a spend or capture back to the card; without an amount, all the rest.

    The ledger refuses refunds beyond the spend (reversal_exceeds_transfer).
    """
    assert spend.kind in ("spend", "capture") and spend.transfer_id is not None
    if facts.card.state == "closed":
        raise errors.GiftCardClosed()
    given = max(amount if amount is not None else spend.amount_minor - refunded_minor, 0)
    moves = (Reverse(spend.transfer_id, amount, code="gift_card_refund"),)
    row = _row(
        facts,
        actor,
        "refund",
        moves,
        amount=given,
        balance_after=facts.balance.credit_balance + given,
        related_id=spend.id,
    )
    return _plan(moves, [_Logged(facts, row)])


# Taking value off a card for good ---------------------------------------------------


def expiry(
    facts: CardFacts, accounts: ProgramAccounts, actor: Actor, open_holds: Sequence[uuid.UUID]
) -> Plan:
    """Close an expired card: release its holds, and what it holds goes to breakage."""
    card = facts.card
    assert card.state in ("active", "frozen")
    amount = facts.balance.credit_balance
    breakage = (
        (Transfer(card.account_id, accounts.breakage.id, amount, "gift_card_expired"),)
        if amount > 0
        else ()
    )
    # Open authorisations are released first, so that all the value breaks.
    moves = tuple(VoidHold(hold_id) for hold_id in open_holds) + breakage
    row = _row(
        facts,
        actor,
        "expiry",
        moves,
        amount=amount,
        balance_after=0,
        transfer=breakage[0] if breakage else None,
    )
    return _plan(moves, [_Logged(facts, row, closing(facts.now, "expired"))])


def balance_transfer(old: CardFacts, new: CardFacts, actor: Actor) -> Plan:
    """Move the whole balance of a lost or damaged card to a new one; the old one closes."""
    if old.card.state == "closed":
        raise errors.GiftCardClosed()
    if new.card.state in ("frozen", "closed"):
        rules.require_usable(new.card.state)
    if new.program.asset_code != old.program.asset_code:
        raise errors.InvalidInput("Both cards must hold the same currency.")
    if old.balance.debits_pending:
        raise errors.GiftCardHasHolds()
    amount = old.balance.credit_balance
    moves = (
        (Transfer(old.card.account_id, new.card.account_id, amount, "gift_card_balance_transfer"),)
        if amount > 0
        else ()
    )
    new_changes: dict[str, Any] = {}
    if new.card.state == "inactive":
        new_changes = {
            "state": "active",
            "activated_at": new.now,
            "expires_at": old.card.expires_at,
        }
    if old.card.membership_id and not new.card.membership_id:
        new_changes.update(membership_id=old.card.membership_id, registered_at=new.now)
    out = _row(
        old, actor, "transfer_out", moves, amount=amount, balance_after=0, related_id=new.card.id
    )
    into = _row(
        new,
        actor,
        "transfer_in",
        moves,
        amount=amount,
        balance_after=new.balance.credit_balance + amount,
        related_id=old.card.id,
    )
    return _plan(
        moves,
        [
            _Logged(old, out, {**closing(old.now, "transferred"), "replaced_by": new.card.id}),
            _Logged(new, into, new_changes),
        ],
    )


def closing(now: datetime, reason: str) -> dict[str, Any]:
    """A card's new row values when it closes (its account is frozen beside)."""
    return {"state": "closed", "closed_at": now, "closed_reason": reason}


# The plan's answer, and the check after the entry -----------------------------------


def operations_of(plan: Plan) -> tuple[CardOperation, ...]:
    """The operations a gift card plan logs, as the use case answers them."""
    assert plan.tender == TENDER
    return plan.details["operations"]


def check_landed(plan: Plan, result: EntryResult | None) -> None:
    """Assert that the ledger did what the plan foresaw: its amounts and the balances after.

    The plan's log rows were computed before the entry posted; a difference is
    a bug in the plan, and the assertion rolls the unit of work back.
    """
    if result is None:
        assert not plan.operations
        return
    posted = {record.id: record.amount for record in result.transfers}
    for operation in operations_of(plan):
        if operation.transfer_id is not None:
            assert posted[operation.transfer_id] == operation.amount_minor, operation
    for account_id, balance_after in plan.details["balances_after"].items():
        if account_id in result.balances:
            assert result.balances[account_id].credit_balance == balance_after, account_id


def _check_invoice(program: Program, invoice: Invoice) -> None:
    rules.check_invoice(program, invoice.number)
    if invoice.number and invoice.used:
        raise errors.InvoiceReused()


def _load_transfer(accounts: ProgramAccounts, card: CardRow, amount: int) -> Transfer:
    return Transfer(accounts.issuance.id, card.account_id, amount, "gift_card_load")


_FIRST = object()


def _row(
    facts: CardFacts,
    actor: Actor,
    kind: str,
    moves: Sequence[Operation],
    *,
    amount: int,
    balance_after: int,
    requested: int | None = None,
    related_id: uuid.UUID | None = None,
    invoice_number: str | None = None,
    hold_expires_at: datetime | None = None,
    transfer: Any = _FIRST,
) -> OperationRow:
    """The operation's log row; its transfer is the plan's first, unless named."""
    if transfer is _FIRST:
        transfer = moves[0] if moves else None
    return OperationRow(
        merchant_id=facts.card.merchant_id,
        id=uuid.uuid4(),
        card_id=facts.card.id,
        program_id=facts.program.id,
        kind=kind,
        amount_minor=amount,
        requested_minor=amount if requested is None else requested,
        balance_after_minor=balance_after,
        entry_id=facts.entry_id if moves else None,
        transfer_id=transfer.id if transfer is not None else None,
        related_id=related_id,
        store_id=actor.store_id,
        terminal_id=actor.terminal_id,
        reseller_id=actor.reseller_id,
        actor=actor.actor,
        invoice_number=invoice_number or None,
        hold_expires_at=hold_expires_at,
        business_date=facts.business_date,
        created_at=facts.now,
    )


def _plan(moves: tuple[Operation, ...], logged: Sequence[_Logged]) -> Plan:
    changes: list[RowChange] = [
        RowUpdate(gift_cards, item.facts.card.id, dict(item.changes))
        for item in logged
        if item.changes
    ]
    changes += [RowInsert(gift_card_operations, item.row.insert_values()) for item in logged]
    operations = tuple(
        CardOperation.of(item.row, item.facts.card.number_last4, item.facts.program.asset_code)
        for item in logged
    )
    return Plan(
        TENDER,
        moves,
        tuple(changes),
        amount=logged[0].row.amount_minor,
        details={
            "operations": operations,
            "balances_after": {
                item.facts.card.account_id: item.row.balance_after_minor for item in logged
            },
        },
    )

"""Open credits (avoirs): rewards a check issues for later, and the later checks that use them.

A stamps program's card may deliver its reward later (`StampCard.delivery`):
- `voucher` — a purchase voucher (*bon d'achat*) of the card's fixed amount,
  used once: it pays what is left of a later check, up to its value; **what it
  does not pay is forfeited** (moved to the merchant's breakage in the same
  journal entry), since a voucher is single use;
- `next_purchase` — the card's reward (free item, fixed or percentage
  discount) taken off the member's next identified check by itself: the
  oldest usable first, one per check;
- `credit` — the card's fixed amount added to the member's loyalty credit,
  spent in part, as the register asks (`credit_minor`), the soonest expiring
  first.

A kitty program may turn into vouchers (`kitty_voucher`, off by default): the
commit that brings the member's kitty to `threshold_minor` moves that amount
from the kitty to a voucher (one per check; earnings held for a return window
do not count until they post). It is the member's own kitty: a refund of that
check takes back what the check earned, as for any kitty, and leaves the
voucher alone.

Each is a row of `loyalty_credits`, usable from the next check on (never by
the check that issued it) until `expires_at` (the card's `valid_days`), by a
running program in the check's currency. A voucher and credit are money: the
issuing commit transfers their value, in the currency, from the program's
`loyalty_rewards` account (its expense) to the member's credit account; a use
moves it from there back to the rewards account as money off the check (like
a kitty: on the lines' `loyalty_paid_minor`, earning no points by default);
the `credits` job moves what expired to breakage. A next-purchase discount has
no value until used: it is a discount of the check that uses it, recorded on
its row (`used_value_minor`).

At the check (the contributor `credits`): the quote lists the member's usable
credits and what each gives (`Quote.credits`); a commit reads them again under
the member's lock and marks those it uses with an `UPDATE … WHERE state =
'open'`, so two parallel checks never both use one voucher (the second one is
`credit_not_usable`).

Refunds (checkout/service.py calls `refund`):
- of the check that used a credit: what the voucher or credit paid goes back
  to it in proportion (rounded down, like points spent) and it is open again;
  a refund of the whole check also gives back a voucher's forfeited rest and
  reopens a next-purchase discount. Reopened past its expiry, it expires at the
  job's next run;
- of the check that issued one: a voucher or credit is taken back in
  proportion to the refunded share of the card (rounded up, like points
  earned), from what is left of it; a next-purchase discount is voided when
  the whole check is refunded. What was used already cannot be taken back:
  its value is **kept off the money returned** (`kept_off_refund_minor`),
  the policy for points already spent. As with points, a later refund of the
  check that used it still gives it back (reopened), the member having paid
  its value in the first refund.

Errors: credit_not_usable, insufficient_funds, invalid_input.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from cagnotte import errors
from cagnotte.checkout import refunds
from cagnotte.checkout.model import CheckRequest, CreditOffer, Effect, LineShare, PricedLine
from cagnotte.checkout.pricing import ResolvedLine
from cagnotte.checkout.stamps import card_discount
from cagnotte.checkout.tables import loyalty_credits
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, fetch_page
from cagnotte.db.unit_of_work import UnitOfWork, UnitsOfWork
from cagnotte.ledger import AccountSpec, Ledger, Reverse, Transfer
from cagnotte.ledger.model import Operation
from cagnotte.money import allocate
from cagnotte.programs.loyalty.program import (
    LoyaltyProgram,
    RewardDelivery,
    StampCard,
    StampReward,
)
from cagnotte.programs.tenders import Plan, RowInsert

CONTRIBUTOR = "credits"
KINDS = ("voucher", "next_purchase", "credit")
# The effect that issues each kind of credit.
ISSUE_EFFECT = {
    "voucher": "issue_voucher",
    "next_purchase": "issue_discount",
    "credit": "issue_credit",
}
REWARD_ACCOUNT_SHARDS = 16
EXPIRY_BATCH_SIZE_MAX = 500


@dataclass(frozen=True, slots=True)
class OpenCredit:
    """A credit of the member that a check may use."""

    id: uuid.UUID
    program_id: uuid.UUID
    kind: str
    currency: str
    reward: str | None
    reward_value: int
    remaining_minor: int
    account_id: uuid.UUID | None
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MemberCredits:
    """What a member's check needs of the credits: accounts (opened before the unit of
    work) and the usable credits (read again under the member's lock at commit)."""

    membership_id: uuid.UUID
    currency: str
    # Per program: the member's credit account and the program's rewards account.
    member_accounts: Mapping[uuid.UUID, uuid.UUID]
    reward_accounts: Mapping[uuid.UUID, uuid.UUID]
    breakage_account: uuid.UUID
    usable: tuple[OpenCredit, ...]
    # Per kitty program that turns into vouchers: the member's kitty account.
    kitty_accounts: Mapping[uuid.UUID, uuid.UUID] = field(default_factory=dict)


def delivers_later(program: LoyaltyProgram) -> bool:
    """Whether the program issues credits: a card delivered later, a kitty into vouchers."""
    card = program.stamp_card
    if program.kitty_voucher is not None:
        return True
    return card is not None and card.delivery != RewardDelivery.INSTANT


def credit_account_spec(program: LoyaltyProgram, membership_id: uuid.UUID) -> AccountSpec:
    """The member's vouchers and loyalty credit of a program, in its currency."""
    return AccountSpec(
        asset_code=program.currency,
        owner_type="membership",
        owner_id=membership_id,
        purpose=f"credit:{program.id.hex[:20]}",
        debits_must_not_exceed_credits=True,
    )


def reward_account_spec(program: LoyaltyProgram) -> AccountSpec:
    """The program's expense for rewards paid in money (vouchers, credit)."""
    return AccountSpec(
        asset_code=program.currency,
        owner_type="program",
        owner_id=program.id,
        purpose="loyalty_rewards",
        balance_shards=REWARD_ACCOUNT_SHARDS,
    )


def breakage_spec(merchant_id: uuid.UUID, currency: str) -> AccountSpec:
    return AccountSpec(
        asset_code=currency, owner_type="merchant", owner_id=merchant_id, purpose="breakage"
    )


# Reading -----------------------------------------------------------------------------


def usable_credits(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    currency: str,
    moment: datetime,
) -> tuple[OpenCredit, ...]:
    """The member's open credits in the currency that have not expired at `moment`."""
    rows = connection.execute(
        select(loyalty_credits)
        .where(
            loyalty_credits.c.merchant_id == merchant_id,
            loyalty_credits.c.membership_id == membership_id,
            loyalty_credits.c.state == "open",
            loyalty_credits.c.currency == currency,
            loyalty_credits.c.expires_at > moment,
        )
        .order_by(loyalty_credits.c.issued_at, loyalty_credits.c.id)
    ).mappings()
    return tuple(
        OpenCredit(
            id=row["id"],
            program_id=row["program_id"],
            kind=row["kind"],
            currency=row["currency"],
            reward=row["reward"],
            reward_value=int(row["reward_value"]),
            remaining_minor=int(row["remaining_minor"]),
            account_id=row["account_id"],
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
        )
        for row in rows
    )


def prepare(
    database: Database,
    ledger: Ledger,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    programs: Sequence[LoyaltyProgram],
    currency: str,
    moment: datetime,
    program_accounts: Mapping[uuid.UUID, uuid.UUID],
) -> MemberCredits:
    """The member's usable credits and the accounts the check may move them through
    (opened now, each in a transaction of its own, before the unit of work);
    `program_accounts` are the member's balances in the programs (a kitty's)."""
    with database.read() as connection:
        usable = usable_credits(connection, merchant_id, membership_id, currency, moment)
    needed = {credit.program_id for credit in usable}
    member_accounts: dict[uuid.UUID, uuid.UUID] = {}
    reward_accounts: dict[uuid.UUID, uuid.UUID] = {}
    for program in programs:
        if program.id in needed or delivers_later(program):
            member_accounts[program.id] = ledger.open_account(
                merchant_id, credit_account_spec(program, membership_id)
            ).id
            reward_accounts[program.id] = ledger.open_account(
                merchant_id, reward_account_spec(program)
            ).id
    breakage = ledger.open_account(merchant_id, breakage_spec(merchant_id, currency)).id
    running = {program.id for program in programs}
    return MemberCredits(
        membership_id,
        currency,
        member_accounts,
        reward_accounts,
        breakage,
        tuple(credit for credit in usable if credit.program_id in running),
        {
            program.id: program_accounts[program.id]
            for program in programs
            if program.kitty_voucher is not None and program.id in program_accounts
        },
    )


def reread(
    connection: Connection, merchant_id: uuid.UUID, credits: MemberCredits, moment: datetime
) -> MemberCredits:
    """The usable credits again, in the commit's unit of work (under the member's lock)."""
    usable = usable_credits(
        connection, merchant_id, credits.membership_id, credits.currency, moment
    )
    return replace(
        credits,
        usable=tuple(credit for credit in usable if credit.program_id in credits.reward_accounts),
    )


# Pricing (pure) ---------------------------------------------------------------------------


def next_purchase(
    lines: Sequence[ResolvedLine],
    priced: list[PricedLine],
    credits: MemberCredits | None,
    programs: Sequence[LoyaltyProgram],
) -> tuple[list[PricedLine], list[Effect], list[CreditOffer]]:
    """The oldest usable next-purchase reward, off this check; what each other would give."""
    if credits is None:
        return priced, [], []
    by_id = {program.id: program for program in programs}
    effects: list[Effect] = []
    offers: list[CreditOffer] = []
    for credit in credits.usable:
        if credit.kind != "next_purchase":
            continue
        program = by_id[credit.program_id]
        positions = [
            position
            for position, line in enumerate(lines)
            if program.scope.covers(line.product_id, line.category_ids)
        ]
        assert credit.reward is not None
        after, value, parts, what = card_discount(
            priced, positions, StampReward(credit.reward), credit.reward_value
        )
        applied = value > 0 and not effects
        offers.append(_offer(credit, value, applied))
        if not applied:
            continue
        priced = after
        effects.append(
            Effect(
                contributor=CONTRIBUTOR,
                kind="discount",
                asset_code=credit.currency,
                units=0,
                value_minor=value,
                program_id=program.id,
                rule_id=str(credit.id),
                lines=tuple(
                    LineShare(priced[position].index, part)
                    for position, part in zip(positions, parts, strict=True)
                    if part
                ),
                reason=f"{program.name}: the reward kept for this purchase, {what}",
            )
        )
    return priced, effects, offers


def pay(
    priced: list[PricedLine], credits: MemberCredits | None, request: CheckRequest
) -> tuple[list[PricedLine], list[Effect], list[CreditOffer]]:
    """What the named vouchers and the credit asked for pay of what is left of the check.

    A voucher named that the member cannot use now (unknown, another member's,
    used, expired, voided) is credit_not_usable; credit beyond what the member
    has is insufficient_funds, beyond what is left of the check invalid_input.
    """
    if credits is None:
        if request.vouchers or request.credit_minor is not None:
            raise errors.CreditNotUsable()
        return priced, [], []
    by_id = {credit.id: credit for credit in credits.usable}
    effects: list[Effect] = []
    # What each credit used pays of this check.
    paid: dict[uuid.UUID, int] = {}
    for voucher_id in request.vouchers:
        credit = by_id.get(voucher_id)
        if credit is None or credit.kind != "voucher":
            raise errors.CreditNotUsable()
        amount = min(credit.remaining_minor, _left_of_check(priced))
        if amount == 0:
            raise errors.InvalidInput("Nothing is left of the check for this voucher to pay.")
        priced, shares = _pay_lines(priced, amount)
        paid[credit.id] = amount
        effects.append(_spend(credit, amount, shares, "a voucher paid"))
        if credit.remaining_minor > amount:
            effects.append(
                Effect(
                    contributor=CONTRIBUTOR,
                    kind="forfeit",
                    asset_code=credit.currency,
                    units=credit.remaining_minor - amount,
                    value_minor=0,
                    program_id=credit.program_id,
                    rule_id=str(credit.id),
                    reason="the rest of a single-use voucher, forfeited",
                )
            )
    held = [credit for credit in credits.usable if credit.kind == "credit"]
    held.sort(key=lambda credit: (credit.expires_at, credit.issued_at, credit.id))
    wanted = request.credit_minor or 0
    if wanted > sum(credit.remaining_minor for credit in held):
        raise errors.InsufficientFunds("The member's loyalty credit is not enough.")
    if wanted > _left_of_check(priced):
        raise errors.InvalidInput("The credit cannot pay more than is left of the check.")
    for credit in held:
        taken = min(credit.remaining_minor, wanted)
        wanted -= taken
        if taken:
            paid[credit.id] = taken
            priced, shares = _pay_lines(priced, taken)
            effects.append(_spend(credit, taken, shares, "loyalty credit paid"))
    # Those not used say what they could pay of what is left now.
    offers = [
        _offer(
            credit,
            paid.get(credit.id, min(credit.remaining_minor, _left_of_check(priced))),
            credit.id in paid,
        )
        for credit in credits.usable
        if credit.kind != "next_purchase"
    ]
    return priced, effects, offers


def issued(
    effects: Sequence[Effect],
    programs: Sequence[LoyaltyProgram],
    credits: MemberCredits | None,
    moment: datetime,
    balances: Mapping[uuid.UUID, int] | None = None,
) -> list[Effect]:
    """The credits this check issues: one per full card of a program that delivers later,
    and a voucher of each kitty that reaches its threshold (`balances`: before the check)."""
    if credits is None:
        return []
    by_id = {program.id: program for program in programs}
    out = _kitty_vouchers(effects, programs, balances or {}, moment)
    for effect in effects:
        if effect.contributor != "loyalty" or effect.kind != "reward":
            continue
        program = by_id.get(effect.program_id) if effect.program_id else None
        if program is None or not delivers_later(program):
            continue
        card = program.stamp_card
        assert card is not None
        kind = card.delivery.value
        money = card.reward_value if kind != "next_purchase" else 0
        stamps = [share.amount for share in effect.lines]
        out.append(
            Effect(
                contributor=CONTRIBUTOR,
                kind=ISSUE_EFFECT[kind],
                asset_code=program.currency,
                units=money,
                value_minor=money,
                program_id=program.id,
                # The credit's id, chosen now: its row and its refunds are found by it.
                rule_id=str(uuid.uuid4()),
                # A money credit's value over the card's lines, so a partial refund
                # takes back its share (next purchase: the stamps, for the record).
                lines=tuple(
                    LineShare(share.line_index, part)
                    for share, part in zip(
                        effect.lines, allocate(money, stamps) if money else stamps, strict=True
                    )
                ),
                expires_at=moment + timedelta(days=card.valid_days),
                reason=f"{program.name}: {_described(card.delivery, card.reward, money)}",
            )
        )
    return out


def _kitty_vouchers(
    effects: Sequence[Effect],
    programs: Sequence[LoyaltyProgram],
    balances: Mapping[uuid.UUID, int],
    moment: datetime,
) -> list[Effect]:
    """A kitty that this check brings to its threshold turns that amount into a voucher.

    The kitty counted is the member's available balance before the check, less
    what the check spends of it, plus what it earns now (earnings held for a
    return window are not there yet). One voucher per check and kitty.
    """
    out = []
    for program in programs:
        rule = program.kitty_voucher
        if rule is None or program.id not in balances:
            continue
        kitty = balances[program.id]
        for effect in effects:
            if effect.contributor == "loyalty" and effect.program_id == program.id:
                if effect.kind == "spend":
                    kitty -= effect.units
                elif effect.kind == "earn" and effect.pending_until is None:
                    kitty += effect.units
        if kitty < rule.threshold_minor:
            continue
        out.append(
            Effect(
                contributor=CONTRIBUTOR,
                kind="kitty_voucher",
                asset_code=program.currency,
                units=rule.threshold_minor,
                value_minor=rule.threshold_minor,
                program_id=program.id,
                rule_id=str(uuid.uuid4()),
                expires_at=moment + timedelta(days=rule.valid_days),
                reason=f"{program.name}: {rule.threshold_minor} minor units of the kitty "
                "turned into a purchase voucher",
            )
        )
    return out


def _described(delivery: RewardDelivery, reward: StampReward, money: int) -> str:
    if delivery == RewardDelivery.VOUCHER:
        return f"a purchase voucher of {money} minor units"
    if delivery == RewardDelivery.CREDIT:
        return f"{money} minor units of loyalty credit"
    return f"a reward for the next purchase ({reward.value.replace('_', ' ')})"


def _offer(credit: OpenCredit, gives: int, applied: bool) -> CreditOffer:
    return CreditOffer(
        credit.id,
        credit.kind,
        credit.program_id,
        credit.remaining_minor,
        credit.reward,
        credit.reward_value,
        credit.expires_at,
        gives,
        applied,
    )


def _spend(credit: OpenCredit, amount: int, shares: tuple[LineShare, ...], what: str) -> Effect:
    return Effect(
        contributor=CONTRIBUTOR,
        kind="spend",
        asset_code=credit.currency,
        units=amount,
        value_minor=amount,
        program_id=credit.program_id,
        rule_id=str(credit.id),
        lines=shares,
        reason=f"{what} {amount} minor units",
    )


def _left(line: PricedLine) -> int:
    return line.net_minor - line.loyalty_paid_minor


def _left_of_check(priced: Sequence[PricedLine]) -> int:
    return sum(_left(line) for line in priced)


def _pay_lines(
    priced: list[PricedLine], amount: int
) -> tuple[list[PricedLine], tuple[LineShare, ...]]:
    """`amount` paid of the lines by largest remainder over what is left of each."""
    room = [_left(line) for line in priced]
    parts = allocate(amount, room, caps=room)
    priced = [
        replace(line, loyalty_paid_minor=line.loyalty_paid_minor + part) if part else line
        for line, part in zip(priced, parts, strict=True)
    ]
    return priced, tuple(
        LineShare(line.index, part) for line, part in zip(priced, parts, strict=True) if part
    )


# Commit ----------------------------------------------------------------------------------


def plan(
    credits: MemberCredits | None,
    effects: Sequence[Effect],
    programs: Sequence[LoyaltyProgram],
    check_id: uuid.UUID,
    moment: datetime,
    reference: str | None,
) -> Plan:
    """The transfers of the credits this check issues and uses, and the rows it issues."""
    if credits is None:
        return Plan(CONTRIBUTOR)
    accounts = {credit.id: credit.account_id for credit in credits.usable}
    by_id = {program.id: program for program in programs}
    operations: list[Operation] = []
    rows: list[RowInsert] = []
    for effect in effects:
        if effect.contributor != CONTRIBUTOR:
            continue
        assert effect.program_id is not None and effect.rule_id is not None
        credit_id = uuid.UUID(effect.rule_id)
        if effect.kind in ("issue_voucher", "issue_credit", "kitty_voucher"):
            operations.append(
                Transfer(
                    # A kitty's voucher is the member's kitty; a card's, the program's money.
                    credits.kitty_accounts[effect.program_id]
                    if effect.kind == "kitty_voucher"
                    else credits.reward_accounts[effect.program_id],
                    credits.member_accounts[effect.program_id],
                    effect.units,
                    "loyalty_credit_issued",
                    reference,
                    id=effect.transfer_id,
                )
            )
        if effect.kind.startswith("issue_") or effect.kind == "kitty_voucher":
            card = by_id[effect.program_id].stamp_card
            rows.append(_issued_row(credits, effect, card, credit_id, check_id, moment))
        elif effect.kind in ("spend", "forfeit"):
            account = accounts[credit_id]
            assert account is not None
            operations.append(
                Transfer(
                    account,
                    credits.reward_accounts[effect.program_id]
                    if effect.kind == "spend"
                    else credits.breakage_account,
                    effect.units,
                    f"loyalty_credit_{'used' if effect.kind == 'spend' else 'forfeited'}",
                    reference,
                    id=effect.transfer_id,
                )
            )
    return Plan(CONTRIBUTOR, tuple(operations), tuple(rows))


def _issued_row(
    credits: MemberCredits,
    effect: Effect,
    card: StampCard | None,
    credit_id: uuid.UUID,
    check_id: uuid.UUID,
    moment: datetime,
) -> RowInsert:
    assert effect.program_id is not None and effect.expires_at is not None
    kind = next((name for name, issue in ISSUE_EFFECT.items() if issue == effect.kind), "voucher")
    money = kind != "next_purchase"
    assert money or card is not None
    return RowInsert(
        loyalty_credits,
        {
            "id": credit_id,
            "membership_id": credits.membership_id,
            "program_id": effect.program_id,
            "kind": kind,
            "currency": credits.currency,
            "reward": None if money or card is None else card.reward.value,
            "reward_value": effect.units if money or card is None else card.reward_value,
            "remaining_minor": effect.units if money else 0,
            "account_id": credits.member_accounts[effect.program_id] if money else None,
            "issue_transfer_id": effect.transfer_id if money else None,
            "issuing_check_id": check_id,
            "issued_at": moment,
            "expires_at": effect.expires_at,
            "state": "open",
            "used_value_minor": 0,
        },
    )


def mark_used(
    connection: Connection,
    merchant_id: uuid.UUID,
    effects: Sequence[Effect],
    check_id: uuid.UUID,
    moment: datetime,
) -> None:
    """Mark the credits the check uses, each only if it is still open and holds enough.

    The commit reads them under the member's lock, so this never fails in
    practice; the condition is the backstop that keeps one voucher from paying
    two checks whatever happens (credit_not_usable: the unit rolls back).
    """
    taken: dict[uuid.UUID, tuple[int, int]] = {}
    for effect in effects:
        if effect.contributor != CONTRIBUTOR or effect.kind not in ("spend", "forfeit", "discount"):
            continue
        assert effect.rule_id is not None
        credit_id = uuid.UUID(effect.rule_id)
        off, given = taken.get(credit_id, (0, 0))
        taken[credit_id] = (
            off + (effect.units if effect.kind != "discount" else 0),
            given + effect.value_minor,
        )
    for credit_id, (off, given) in sorted(taken.items()):
        left = loyalty_credits.c.remaining_minor - off
        updated = connection.execute(
            update(loyalty_credits)
            .where(
                loyalty_credits.c.merchant_id == merchant_id,
                loyalty_credits.c.id == credit_id,
                loyalty_credits.c.state == "open",
                loyalty_credits.c.expires_at > moment,
                loyalty_credits.c.remaining_minor >= off,
            )
            .values(
                remaining_minor=left,
                used_value_minor=loyalty_credits.c.used_value_minor + given,
                using_check_id=check_id,
                used_at=moment,
                # A next-purchase discount is used once; money is used up when none is left.
                state=case(
                    (loyalty_credits.c.kind == "next_purchase", "used"),
                    (left == 0, "used"),
                    else_="open",
                ),
            )
        ).rowcount
        if updated != 1:
            raise errors.CreditNotUsable()


# Refunds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditRefund:
    """What a refund does to the credits its check issued or used."""

    operations: tuple[Operation, ...]
    # The value of credits the check issued that were used already: paid back that much less.
    kept_off_minor: int


def refund(
    connection: Connection,
    merchant_id: uuid.UUID,
    effect_rows: Sequence[Any],
    lines: Sequence[refunds.LineState],
    before: Mapping[int, int],
    after: Mapping[int, int],
    now: datetime,
) -> CreditRefund:
    """Give back what the refunded part of a check used of credits, take back what it issued."""
    whole_now = all(after[line.index] == line.quantity for line in lines) and not all(
        before[line.index] == line.quantity for line in lines
    )
    operations: list[Operation] = []
    kept_off = 0
    for row in effect_rows:
        if row["contributor"] != CONTRIBUTOR:
            continue
        credit_id = uuid.UUID(row["rule_id"])
        kind = row["kind"]
        if kind == "kitty_voucher":
            # The member's own kitty, turned into a voucher: a refund does not undo
            # the conversion (the kitty earned on the check is taken back as any).
            continue
        if kind.startswith("issue_"):
            due = _due(row, "earn", lines, before, after)
            if kind == "issue_discount":
                due = 1 if whole_now else 0
            if due:
                taken, kept = _take_back(connection, merchant_id, credit_id, row, due, now)
                kept_off += kept
                if taken:
                    operations.append(
                        Reverse(row["transfer_id"], taken, code="check_refund_credit_issued")
                    )
            continue
        if kind == "spend":
            due = _due(row, "spend", lines, before, after)
            if due > 0:
                operations.append(Reverse(row["transfer_id"], due, code="check_refund_credit_used"))
                _give_back(connection, merchant_id, credit_id, due, due)
        elif whole_now and kind == "forfeit":
            # The whole check given back: the voucher's forfeited rest comes back too.
            operations.append(
                Reverse(row["transfer_id"], row["units"], code="check_refund_credit_forfeited")
            )
            _give_back(connection, merchant_id, credit_id, row["units"], 0)
        elif whole_now and kind == "discount":
            _give_back(connection, merchant_id, credit_id, 0, row["value_minor"])
    return CreditRefund(tuple(operations), kept_off)


def _due(
    row: Any,
    kind: str,
    lines: Sequence[refunds.LineState],
    before: Mapping[int, int],
    after: Mapping[int, int],
) -> int:
    effect = refunds.EffectState(
        row["ordinal"], kind, row["units"], tuple(tuple(pair) for pair in row["lines"])
    )
    return refunds.reversed_units(effect, lines, after) - refunds.reversed_units(
        effect, lines, before
    )


def _take_back(
    connection: Connection,
    merchant_id: uuid.UUID,
    credit_id: uuid.UUID,
    effect_row: Any,
    due: int,
    now: datetime,
) -> tuple[int, int]:
    """Take `due` back off a credit the refunded check issued: (taken, kept off the refund).

    A money credit gives what is left of it; the rest was used, and its value is
    kept off the money returned (what it gave, at most `due`). A next-purchase
    discount (`due` 1) is voided if unused, or the discount it gave is kept off.
    """
    row = (
        connection.execute(
            select(loyalty_credits).where(
                loyalty_credits.c.merchant_id == merchant_id, loyalty_credits.c.id == credit_id
            )
        )
        .mappings()
        .one()
    )
    if row["kind"] == "next_purchase":
        if row["state"] == "open":
            _set(connection, merchant_id, credit_id, state="voided", resolved_at=now)
            return 0, 0
        return 0, int(row["used_value_minor"]) if row["state"] == "used" else 0
    left = int(row["remaining_minor"]) if row["state"] == "open" else 0
    taken = min(due, left)
    if taken:
        _set(
            connection,
            merchant_id,
            credit_id,
            remaining_minor=left - taken,
            state="voided" if taken == left else "open",
            resolved_at=now if taken == left else None,
        )
    # What is not left was used, or expired, or forfeited with a voucher's use: what
    # the member had of it (`used_value_minor`) is kept off, no more.
    used = int(row["used_value_minor"]) if row["state"] in ("open", "used") else 0
    return taken, min(due - taken, used)


def _give_back(
    connection: Connection,
    merchant_id: uuid.UUID,
    credit_id: uuid.UUID,
    minor: int,
    value_minor: int,
) -> None:
    """A refund of the check that used the credit: open again with what it gave back."""
    connection.execute(
        update(loyalty_credits)
        .where(loyalty_credits.c.merchant_id == merchant_id, loyalty_credits.c.id == credit_id)
        .values(
            remaining_minor=loyalty_credits.c.remaining_minor + minor,
            used_value_minor=loyalty_credits.c.used_value_minor - value_minor,
            state="open",
            resolved_at=None,
        )
    )


def _set(connection: Connection, merchant_id: uuid.UUID, credit_id: uuid.UUID, **values: Any):
    connection.execute(
        update(loyalty_credits)
        .where(loyalty_credits.c.merchant_id == merchant_id, loyalty_credits.c.id == credit_id)
        .values(**values)
    )


# Expiry (the job) ------------------------------------------------------------------------


def expire_due(
    database: Database,
    units: UnitsOfWork,
    ledger: Ledger,
    now: datetime,
    batch_size: int = EXPIRY_BATCH_SIZE_MAX,
) -> int:
    """Expire the open credits past their date (the soonest first, one batch): a money
    credit's rest goes to the merchant's breakage by a transfer. Returns how many."""
    assert 1 <= batch_size <= EXPIRY_BATCH_SIZE_MAX
    with database.read() as connection:
        due = connection.execute(
            select(loyalty_credits.c.merchant_id, loyalty_credits.c.id, loyalty_credits.c.currency)
            .where(loyalty_credits.c.state == "open", loyalty_credits.c.expires_at <= now)
            .order_by(loyalty_credits.c.expires_at, loyalty_credits.c.id)
            .limit(batch_size)
        ).all()
    expired = 0
    for merchant_id, credit_id, currency in due:
        breakage = ledger.open_account(merchant_id, breakage_spec(merchant_id, currency)).id
        expired += units.run(
            merchant_id,
            "loyalty_credit_expiry",
            lambda unit, c=credit_id, b=breakage: _expire_one(unit, ledger, c, b),
        )
    return expired


def _expire_one(unit: UnitOfWork, ledger: Ledger, credit_id: uuid.UUID, breakage: uuid.UUID) -> int:
    row = (
        unit.connection.execute(
            select(loyalty_credits).where(
                loyalty_credits.c.merchant_id == unit.merchant_id,
                loyalty_credits.c.id == credit_id,
                loyalty_credits.c.state == "open",
                loyalty_credits.c.expires_at <= unit.now,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return 0  # used, voided or expired by another run meanwhile
    # Conditional on what was read: a check using it meanwhile makes this touch nothing.
    updated = unit.connection.execute(
        update(loyalty_credits)
        .where(
            loyalty_credits.c.merchant_id == unit.merchant_id,
            loyalty_credits.c.id == credit_id,
            loyalty_credits.c.state == "open",
            loyalty_credits.c.remaining_minor == row["remaining_minor"],
        )
        .values(state="expired", remaining_minor=0, resolved_at=unit.now)
    ).rowcount
    if updated != 1:
        return 0
    if row["remaining_minor"] and row["account_id"] is not None:
        ledger.post_entry(
            unit.merchant_id,
            [
                Transfer(
                    row["account_id"],
                    breakage,
                    int(row["remaining_minor"]),
                    "loyalty_credit_expired",
                    reference=str(credit_id),
                )
            ],
            kind="loyalty_credit_expiry",
            unit=unit,
        )
    return 1


def list_credits(
    connection: Connection,
    merchant_id: uuid.UUID,
    membership_id: uuid.UUID,
    state: str | None,
    page: PageRequest = FIRST_PAGE,
) -> Page[dict[str, Any]]:
    """A member's credits, the newest first (any state, or one)."""
    query = select(loyalty_credits).where(
        loyalty_credits.c.merchant_id == merchant_id,
        loyalty_credits.c.membership_id == membership_id,
    )
    if state is not None:
        query = query.where(loyalty_credits.c.state == state)
    order = Order(
        "loyalty_credits", (loyalty_credits.c.issued_at, loyalty_credits.c.id), descending=True
    )
    return fetch_page(connection, query, order, page).map(dict)


def open_summary(
    connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID, now: datetime
) -> list[tuple[str, int, int]]:
    """Per kind, the member's usable credits: (kind, how many, value left in minor units)."""
    rows = connection.execute(
        select(
            loyalty_credits.c.kind,
            func.count(),
            func.coalesce(func.sum(loyalty_credits.c.remaining_minor), 0),
        )
        .where(
            loyalty_credits.c.merchant_id == merchant_id,
            loyalty_credits.c.membership_id == membership_id,
            loyalty_credits.c.state == "open",
            loyalty_credits.c.expires_at > now,
        )
        .group_by(loyalty_credits.c.kind)
        .order_by(loyalty_credits.c.kind)
    ).all()
    return [(kind, int(count), int(value)) for kind, count, value in rows]


def offer_json(offer: CreditOffer) -> dict[str, Any]:
    return {
        "credit_id": str(offer.credit_id),
        "kind": offer.kind,
        "program_id": str(offer.program_id),
        "remaining_minor": offer.remaining_minor,
        "reward": offer.reward,
        "reward_value": offer.reward_value,
        "expires_at": offer.expires_at.isoformat(),
        "gives_minor": offer.gives_minor,
        "applied": offer.applied,
    }


def offer_from_json(data: Mapping[str, Any]) -> CreditOffer:
    return CreditOffer(
        credit_id=uuid.UUID(data["credit_id"]),
        kind=data["kind"],
        program_id=uuid.UUID(data["program_id"]),
        remaining_minor=data["remaining_minor"],
        reward=data["reward"],
        reward_value=data["reward_value"],
        expires_at=datetime.fromisoformat(data["expires_at"]),
        gives_minor=data["gives_minor"],
        applied=data["applied"],
    )

"""Open credits at the check, the pure part: what a voucher, credit or kept discount gives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cagnotte import errors
from cagnotte.checkout.credits import MemberCredits, OpenCredit, next_purchase, pay
from cagnotte.checkout.model import CheckRequest, LineRequest
from cagnotte.checkout.pricing import ResolvedLine, priced_lines
from cagnotte.programs.loyalty.program import (
    LoyaltyProgram,
    ProgramKind,
    ProgramStatus,
    StampCard,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MERCHANT = uuid.uuid4()
PROGRAM = LoyaltyProgram(
    merchant_id=MERCHANT,
    id=uuid.uuid4(),
    kind=ProgramKind.STAMPS,
    name="Card",
    status=ProgramStatus.ACTIVE,
    currency="CZK",
    asset_code="STP-1",
    stamp_card=StampCard(size=10),
)


def credit(kind: str, remaining: int = 0, *, reward=None, value=0, days=30) -> OpenCredit:
    return OpenCredit(
        id=uuid.uuid4(),
        program_id=PROGRAM.id,
        kind=kind,
        currency="CZK",
        reward=reward,
        reward_value=value or remaining,
        remaining_minor=remaining,
        account_id=uuid.uuid4(),
        issued_at=NOW,
        expires_at=NOW + timedelta(days=days),
    )


def held(*credits: OpenCredit) -> MemberCredits:
    return MemberCredits(
        uuid.uuid4(),
        "CZK",
        {PROGRAM.id: uuid.uuid4()},
        {PROGRAM.id: uuid.uuid4()},
        uuid.uuid4(),
        credits,
    )


def lines(*prices: int) -> tuple[list[ResolvedLine], list]:
    resolved = [
        ResolvedLine(index, LineRequest(f"SKU{index}", 1, price))
        for index, price in enumerate(prices)
    ]
    return resolved, priced_lines(resolved)


def request(**uses) -> CheckRequest:
    return CheckRequest(
        store_id=uuid.uuid4(),
        terminal_id=None,
        channel="register",
        currency="CZK",
        lines=(LineRequest("X", 1, 1),),
        membership_id=uuid.uuid4(),
        **uses,
    )


def test_a_voucher_pays_the_lines_by_largest_remainder_and_forfeits_its_rest():
    voucher = credit("voucher", 500)
    _, priced = lines(100, 100, 120)  # 3.20
    priced, effects, offers = pay(priced, held(voucher), request(vouchers=(voucher.id,)))
    assert [(e.kind, e.units) for e in effects] == [("spend", 320), ("forfeit", 180)]
    assert [line.loyalty_paid_minor for line in priced] == [100, 100, 120]
    assert [(o.gives_minor, o.applied) for o in offers] == [(320, True)]


def test_a_voucher_smaller_than_the_check_is_spread_without_a_cent_lost():
    voucher = credit("voucher", 100)
    _, priced = lines(100, 100, 100)
    priced, effects, _ = pay(priced, held(voucher), request(vouchers=(voucher.id,)))
    # 1.00 over three lines of 1.00: 34 + 33 + 33, the first remainder first.
    assert [line.loyalty_paid_minor for line in priced] == [34, 33, 33]
    assert [(e.kind, e.units) for e in effects] == [("spend", 100)]


def test_credit_is_taken_from_the_soonest_expiring_first():
    later, sooner = credit("credit", 200, days=60), credit("credit", 150, days=10)
    _, priced = lines(300)
    _, effects, _ = pay(priced, held(later, sooner), request(credit_minor=250))
    assert [(e.rule_id, e.units) for e in effects] == [(str(sooner.id), 150), (str(later.id), 100)]


def test_credit_beyond_the_balance_or_the_check_is_refused():
    _, priced = lines(300)
    with pytest.raises(errors.InsufficientFunds):
        pay(priced, held(credit("credit", 200)), request(credit_minor=201))
    _, small = lines(100)
    with pytest.raises(errors.InvalidInput):
        pay(small, held(credit("credit", 200)), request(credit_minor=150))


def test_a_voucher_not_held_is_not_usable():
    _, priced = lines(300)
    with pytest.raises(errors.CreditNotUsable):
        pay(priced, held(credit("voucher", 500)), request(vouchers=(uuid.uuid4(),)))


def test_one_next_purchase_discount_per_check_the_oldest_first():
    older = credit("next_purchase", reward="percent_discount", value=1_000)
    newer = credit("next_purchase", reward="fixed_discount", value=300)
    resolved, priced = lines(333, 333)
    priced, effects, offers = next_purchase(resolved, priced, held(older, newer), [PROGRAM])
    # 10 % of 6.66, rounded down: 0.66, spread 33 + 33.
    assert [(e.kind, e.value_minor) for e in effects] == [("discount", 66)]
    assert [line.discount_minor for line in priced] == [33, 33]
    assert [(o.credit_id, o.applied) for o in offers] == [(older.id, True), (newer.id, False)]

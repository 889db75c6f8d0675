"""How much of a check a points or kitty balance may pay (pure rules, worked examples)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cagnotte import errors
from cagnotte.programs.loyalty.program import (
    LoyaltyProgram,
    ProgramKind,
    ProgramStatus,
    SpendingRules,
    StampCard,
    spendable,
)

# 100 points = 1.00 CZK: one point is worth one minor unit (a haléř).
ONE_TO_ONE = SpendingRules()


def test_a_balance_smaller_than_the_check_pays_all_of_it():
    quote = spendable(ONE_TO_ONE, balance_units=250, eligible_minor=1_000, check_total_minor=1_000)
    assert (quote.units, quote.value_minor, quote.limited_by) == (250, 250, "balance")


def test_at_most_the_share_of_the_check_is_paid_with_points():
    rules = SpendingRules(share_max_basis_points=3_000)  # 30 %
    quote = spendable(rules, balance_units=10_000, eligible_minor=1_999, check_total_minor=1_999)
    assert (quote.units, quote.value_minor, quote.limited_by) == (599, 599, "share_of_check")


def test_points_are_spent_in_whole_blocks_and_not_below_the_minimum():
    rules = SpendingRules(spend_block_units=100, spend_min_units=500)
    assert (
        spendable(rules, balance_units=1_250, eligible_minor=5_000, check_total_minor=5_000).units
        == 1_200
    )
    assert (
        spendable(
            rules, balance_units=499, eligible_minor=5_000, check_total_minor=5_000
        ).value_minor
        == 0
    )


def test_a_point_worth_half_a_minor_unit_is_never_taken_for_nothing():
    rules = SpendingRules(value_numerator=1, value_denominator=2)
    quote = spendable(rules, balance_units=3, eligible_minor=100, check_total_minor=100)
    # Three points are worth 1.5 minor units: 1 is paid, and two points pay for it.
    assert (quote.units, quote.value_minor) == (2, 1)


def test_the_customer_may_ask_to_use_fewer_points():
    quote = spendable(
        ONE_TO_ONE,
        balance_units=900,
        eligible_minor=800,
        check_total_minor=800,
        requested_units=300,
    )
    assert (quote.units, quote.value_minor, quote.limited_by) == (300, 300, None)


def test_points_never_pay_more_than_is_left_of_the_check():
    quote = spendable(ONE_TO_ONE, balance_units=900, eligible_minor=800, check_total_minor=500)
    assert quote.value_minor == 500


@given(
    balance=st.integers(0, 10**9),
    eligible=st.integers(0, 10**9),
    total=st.integers(0, 10**9),
    numerator=st.integers(1, 1_000),
    denominator=st.integers(1, 1_000),
    share=st.integers(1, 10_000),
    block=st.integers(1, 500),
    minimum=st.integers(1, 1_000),
)
def test_a_spend_never_exceeds_the_balance_the_share_or_the_check(
    balance, eligible, total, numerator, denominator, share, block, minimum
):
    rules = SpendingRules(
        value_numerator=numerator,
        value_denominator=denominator,
        share_max_basis_points=share,
        spend_block_units=block,
        spend_min_units=minimum,
    )
    quote = spendable(
        rules, balance_units=balance, eligible_minor=eligible, check_total_minor=total
    )
    assert 0 <= quote.units <= balance
    assert quote.units % block == 0
    assert quote.units == 0 or quote.units >= minimum
    assert quote.value_minor == rules.value_of(quote.units)
    assert quote.value_minor <= min(eligible * share // 10_000, total)


def test_a_program_says_whether_it_runs_at_a_moment():
    from datetime import UTC, datetime

    program = LoyaltyProgram(
        merchant_id=uuid.uuid4(),
        id=uuid.uuid4(),
        kind=ProgramKind.STAMPS,
        name="Coffee",
        status=ProgramStatus.ACTIVE,
        currency="CZK",
        asset_code="STAMPS",
        stamp_card=StampCard(size=10),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_to=datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert program.running_at(datetime(2026, 6, 1, tzinfo=UTC))
    assert not program.running_at(datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(errors.InvalidInput):
        StampCard(size=1)

"""Money arithmetic: rounding by a named mode, percentages, conversions, exact splits."""

from __future__ import annotations

import math
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cagnotte.money import AMOUNT_MINOR_MAX, Rounding, allocate, divide, percentage, scale

BIG = 2**63 - 1
assert BIG == AMOUNT_MINOR_MAX

# Pure functions, so examples are cheap: fewer than the default 100 keeps the unit
# tier fast, and no deadline, so that a loaded machine does not fail a test.
PROPERTY = settings(max_examples=60, deadline=None)

DECIMAL_MODE = {
    Rounding.DOWN: ROUND_DOWN,
    Rounding.UP: ROUND_UP,
    Rounding.FLOOR: ROUND_FLOOR,
    Rounding.CEILING: ROUND_CEILING,
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.HALF_DOWN: ROUND_HALF_DOWN,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
}


def exact_rounding(value: Fraction, rounding: Rounding) -> int:
    """The same rounding, written another way, as an oracle for divide."""
    sign = -1 if value < 0 else 1
    size = abs(value)
    return {
        Rounding.DOWN: lambda: math.trunc(value),
        Rounding.UP: lambda: sign * math.ceil(size),
        Rounding.FLOOR: lambda: math.floor(value),
        Rounding.CEILING: lambda: math.ceil(value),
        Rounding.HALF_UP: lambda: sign * math.floor(size + Fraction(1, 2)),
        Rounding.HALF_DOWN: lambda: sign * math.ceil(size - Fraction(1, 2)),
        Rounding.HALF_EVEN: lambda: round(value),
    }[rounding]()


# Rounding and divide -------------------------------------------------------------------------


def test_every_rounding_mode_means_what_the_decimal_mode_of_the_same_name_means():
    # Quarters from -4 to 4: exact in Decimal, with halves and non-halves of both signs.
    for rounding, decimal_mode in DECIMAL_MODE.items():
        for quarters in range(-16, 17):
            expected = (Decimal(quarters) / 4).quantize(Decimal(1), rounding=decimal_mode)
            assert divide(quarters, 4, rounding) == int(expected), (rounding, quarters)


def test_the_enum_has_every_mode_a_payments_engineer_expects():
    assert set(Rounding) == set(DECIMAL_MODE)


@pytest.mark.parametrize(
    ("rounding", "halves"),
    [
        # divide(n, 2) for n = 5, -5, 3, -3: 2.5, -2.5, 1.5, -1.5.
        (Rounding.DOWN, [2, -2, 1, -1]),
        (Rounding.UP, [3, -3, 2, -2]),
        (Rounding.FLOOR, [2, -3, 1, -2]),
        (Rounding.CEILING, [3, -2, 2, -1]),
        (Rounding.HALF_UP, [3, -3, 2, -2]),
        (Rounding.HALF_DOWN, [2, -2, 1, -1]),
        (Rounding.HALF_EVEN, [2, -2, 2, -2]),
    ],
)
def test_a_half_is_rounded_as_its_mode_says(rounding, halves):
    assert [divide(n, 2, rounding) for n in (5, -5, 3, -3)] == halves


@pytest.mark.parametrize("rounding", list(Rounding))
def test_an_exact_quotient_is_never_rounded(rounding):
    assert divide(0, 7, rounding) == 0
    assert divide(42, 7, rounding) == 6
    assert divide(-42, 7, rounding) == -6
    assert divide(42, -7, rounding) == -6
    assert divide(BIG, 1, rounding) == BIG
    assert divide(BIG * BIG, BIG, rounding) == BIG


@pytest.mark.parametrize("rounding", list(Rounding))
def test_a_negative_denominator_is_the_same_as_a_negative_numerator(rounding):
    for numerator in (-7, -1, 1, 7, BIG):
        assert divide(numerator, -3, rounding) == divide(-numerator, 3, rounding)


def test_the_nearest_wins_over_the_mode_when_the_fraction_is_not_a_half():
    for rounding in (Rounding.HALF_UP, Rounding.HALF_DOWN, Rounding.HALF_EVEN):
        assert divide(2, 3, rounding) == 1
        assert divide(1, 3, rounding) == 0
        assert divide(-2, 3, rounding) == -1
        assert divide(-1, 3, rounding) == 0


def test_dividing_the_largest_amount_stays_exact():
    # (2**63 - 1) / 2 = 2**62 - 0.5: a float would already have lost the half.
    assert divide(BIG, 2, Rounding.DOWN) == 2**62 - 1
    assert divide(BIG, 2, Rounding.UP) == 2**62
    assert divide(BIG, 2, Rounding.HALF_EVEN) == 2**62
    assert divide(BIG - 2, 2, Rounding.HALF_EVEN) == 2**62 - 2
    assert divide(-BIG, 2, Rounding.FLOOR) == -(2**62)


@pytest.mark.parametrize(
    ("numerator", "denominator"), [(1, 0), (1.0, 2), (1, 2.0), (True, 2), (1, True)]
)
def test_a_zero_denominator_a_float_or_a_bool_is_a_programmer_error(numerator, denominator):
    with pytest.raises(AssertionError):
        divide(numerator, denominator, Rounding.HALF_UP)


def test_a_rounding_mode_must_be_named():
    with pytest.raises(AssertionError):
        divide(1, 2, "half_up")  # type: ignore[arg-type]


@PROPERTY
@given(
    numerator=st.integers(-(BIG**2), BIG**2),
    denominator=st.integers(-BIG, BIG).filter(bool),
    rounding=st.sampled_from(Rounding),
)
def test_divide_agrees_with_exact_rational_rounding(numerator, denominator, rounding):
    result = divide(numerator, denominator, rounding)

    exact = Fraction(numerator, denominator)
    assert result == exact_rounding(exact, rounding)
    assert abs(result - exact) < 1
    if rounding.name.startswith("HALF_"):
        assert abs(result - exact) <= Fraction(1, 2)


# Percentages and conversions -----------------------------------------------------------------


def test_two_and_a_half_percent_cashback_is_rounded_by_the_mode_asked_for():
    # 2.5 % of 19.99 is 0.49975.
    assert percentage(1999, 250, Rounding.DOWN) == 49
    assert percentage(1999, 250, Rounding.HALF_UP) == 50
    assert percentage(1999, 250, Rounding.UP) == 50


def test_a_half_unit_percentage_goes_to_the_even_neighbour_under_half_even():
    # 10 % of 0.05 and of 0.15: 0.005 and 0.015.
    assert percentage(5, 1000, Rounding.HALF_EVEN) == 0
    assert percentage(15, 1000, Rounding.HALF_EVEN) == 2
    assert percentage(5, 1000, Rounding.HALF_UP) == 1


def test_the_ends_of_the_percentage_scale():
    assert percentage(0, 250, Rounding.UP) == 0
    assert percentage(1234, 0, Rounding.UP) == 0
    assert percentage(1234, 10_000, Rounding.DOWN) == 1234
    assert percentage(BIG, 10_000, Rounding.DOWN) == BIG
    assert percentage(BIG, 1, Rounding.DOWN) == BIG // 10_000
    assert percentage(1, 1, Rounding.UP) == 1
    assert percentage(1, 1, Rounding.DOWN) == 0


def test_a_refund_takes_the_mirror_image_of_the_percentage_under_a_symmetric_mode():
    for rounding in (Rounding.DOWN, Rounding.UP, Rounding.HALF_UP, Rounding.HALF_EVEN):
        assert percentage(-1999, 250, rounding) == -percentage(1999, 250, rounding)
    assert percentage(-1999, 250, Rounding.FLOOR) == -50


def test_a_rate_that_basis_points_cannot_write_goes_through_scale_as_a_fraction():
    third = Fraction(1, 3)
    assert scale(100, third.numerator, third.denominator, Rounding.HALF_UP) == 33
    assert scale(200, third.numerator, third.denominator, Rounding.HALF_UP) == 67


def test_one_point_per_ten_koruna_counts_whole_tens_only():
    # Amounts in haléřů: 10 CZK = 1000.
    assert scale(999, 1, 1000, Rounding.DOWN) == 0
    assert scale(1000, 1, 1000, Rounding.DOWN) == 1
    assert scale(12_345, 1, 1000, Rounding.DOWN) == 12
    assert scale(-12_345, 1, 1000, Rounding.DOWN) == -12


def test_a_hundred_points_make_one_koruna():
    assert scale(100, 100, 100, Rounding.DOWN) == 100
    # 100 points = 5 CZK: one point is worth 5 haléřů.
    assert scale(37, 500, 100, Rounding.DOWN) == 185
    # 100 points = 1 EUR, paid in whole euros only (scale 0): 150 points are 1.5 EUR.
    assert scale(150, 1, 100, Rounding.HALF_EVEN) == 2


def test_scale_multiplies_before_it_divides_so_it_rounds_once():
    # 7 × 3 / 2 = 10.5; dividing first would give 3 × 3 = 9 or 4 × 3 = 12.
    assert scale(7, 3, 2, Rounding.HALF_UP) == 11
    assert scale(BIG, BIG, BIG, Rounding.DOWN) == BIG


# Allocation ----------------------------------------------------------------------------------


def test_a_discount_split_over_three_lines_adds_up_to_the_whole():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]


def test_the_left_over_units_go_to_the_largest_remainders():
    # Exact shares 16.67, 33.33, 50 of 100 over 1 : 2 : 3.
    assert allocate(100, [1, 2, 3]) == [17, 33, 50]
    # Exact shares 1.43, 2.86, 5.71 → 1, 2, 5, and the two left over go to .86 and .71.
    assert allocate(10, [1, 2, 4]) == [1, 3, 6]


def test_a_tie_on_the_remainder_goes_to_the_lower_index():
    assert allocate(1, [1, 1, 1]) == [1, 0, 0]
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate(5, [3, 1, 1, 3]) == [2, 1, 0, 2]


def test_a_single_weight_takes_everything():
    assert allocate(12_345, [7]) == [12_345]
    assert allocate(BIG, [1]) == [BIG]


def test_a_zero_weight_gets_nothing_even_when_units_are_left_over():
    assert allocate(10, [0, 1, 0]) == [0, 10, 0]
    assert allocate(1, [0, 1, 1]) == [0, 1, 0]
    assert allocate(5, [0, 0, 0, 3, 0]) == [0, 0, 0, 5, 0]


def test_nothing_to_split_gives_zero_parts():
    assert allocate(0, [1, 2, 3]) == [0, 0, 0]


def test_a_negative_total_is_split_like_its_size_with_every_part_negated():
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate(-10, [1, 2, 4]) == [-1, -3, -6]


def test_the_largest_amounts_and_weights_split_exactly():
    assert allocate(BIG, [1, 1]) == [2**62, 2**62 - 1]
    assert allocate(BIG, [BIG, BIG, 1]) == [2**62 - 1, 2**62 - 1, 1]
    assert sum(allocate(BIG, [BIG - 1, 3, 2**40])) == BIG


@pytest.mark.parametrize("weights", [[], [0], [0, 0], [1, -1, 2], [1, True], [1.0, 2]])
def test_weights_without_a_positive_sum_or_not_int_are_a_programmer_error(weights):
    with pytest.raises(AssertionError):
        allocate(10, weights)


def test_a_discount_capped_by_the_line_amounts_never_takes_a_line_below_zero():
    lines = [250, 40, 1000, 9]
    parts = allocate(1299, lines, caps=lines)
    assert parts == lines
    parts = allocate(600, lines, caps=lines)
    assert sum(parts) == 600
    assert all(part <= line for part, line in zip(parts, lines, strict=True))


def test_what_a_capped_line_cannot_take_is_shared_by_the_others_by_weight():
    # Evenly, 30 each; the first line stops at 10, the other two share the rest.
    assert allocate(90, [1, 1, 1], caps=[10, 100, 100]) == [10, 40, 40]
    # The second line is capped only once the first line's surplus reaches it.
    assert allocate(90, [1, 1, 1], caps=[10, 35, 100]) == [10, 35, 45]


def test_caps_that_do_not_bind_change_nothing():
    assert allocate(100, [1, 2, 3], caps=[17, 34, 50]) == allocate(100, [1, 2, 3])
    assert allocate(100, [1, 1, 1], caps=[BIG, BIG, BIG]) == [34, 33, 33]


def test_caps_that_add_up_to_exactly_the_total_are_each_filled():
    assert allocate(60, [5, 1, 1], caps=[10, 20, 30]) == [10, 20, 30]


def test_a_line_capped_at_zero_gets_nothing():
    assert allocate(5, [1, 1], caps=[0, 5]) == [0, 5]


def test_caps_that_add_up_to_less_than_the_total_are_refused_with_a_value_error():
    with pytest.raises(ValueError, match="caps"):
        allocate(61, [1, 1, 1], caps=[10, 20, 30])


def test_the_cap_of_a_line_of_weight_zero_is_no_room_for_the_rest():
    with pytest.raises(ValueError):
        allocate(11, [0, 1], caps=[100, 10])
    assert allocate(10, [0, 1], caps=[100, 10]) == [0, 10]


def test_caps_bound_the_size_of_the_parts_of_a_negative_total():
    assert allocate(-90, [1, 1, 1], caps=[10, 100, 100]) == [-10, -40, -40]


@pytest.mark.parametrize("caps", [[1, 2], [1, -1, 2], [1, 2, 3.0]])
def test_caps_of_the_wrong_length_negative_or_not_int_are_a_programmer_error(caps):
    with pytest.raises(AssertionError):
        allocate(1, [1, 1, 1], caps=caps)


# Allocation properties -----------------------------------------------------------------------

amounts = st.integers(-BIG, BIG)
weight_lists = st.lists(st.integers(0, BIG), min_size=1, max_size=12).filter(lambda w: sum(w) > 0)


def capped_shares(total: int, weights: list[int], caps: list[int]) -> list[Fraction]:
    """The exact shares under caps, found by clamping all over-cap lines at once, again and
    again: another way to the same water level than allocate's sorted walk."""
    shares = [Fraction(0)] * len(weights)
    active = {index for index, weight in enumerate(weights) if weight > 0}
    left = Fraction(total)
    while True:
        weight_sum = sum(weights[index] for index in active)
        over = {index for index in active if left * weights[index] / weight_sum > caps[index]}
        if not over:
            for index in active:
                shares[index] = left * weights[index] / weight_sum
            return shares
        for index in over:
            shares[index] = Fraction(caps[index])
            left -= caps[index]
        active -= over


@PROPERTY
@given(total=amounts, weights=weight_lists)
def test_parts_add_up_to_the_total_and_each_is_within_one_of_its_exact_share(total, weights):
    parts = allocate(total, weights)

    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        share = Fraction(total * weight, weight_sum)
        assert math.floor(share) <= part <= math.ceil(share)
        if weight == 0:
            assert part == 0


@PROPERTY
@given(total=st.integers(0, BIG), weights=weight_lists)
def test_the_left_over_units_go_to_the_largest_remainders_lower_index_first(total, weights):
    parts = allocate(total, weights)

    weight_sum = sum(weights)
    remainders = [(total * weight) % weight_sum for weight in weights]
    rounded_up = [
        index
        for index, (part, weight) in enumerate(zip(parts, weights, strict=True))
        if part * weight_sum > total * weight
    ]
    rounded_down = [index for index in range(len(weights)) if index not in rounded_up]
    for up in rounded_up:
        for down in rounded_down:
            assert (remainders[up], -up) > (remainders[down], -down)


@PROPERTY
@given(data=st.data(), weights=weight_lists)
def test_capped_parts_add_up_never_pass_their_cap_and_stay_within_one_of_the_share(data, weights):
    caps = data.draw(st.lists(st.integers(0, BIG), min_size=len(weights), max_size=len(weights)))
    room = sum(cap for cap, weight in zip(caps, weights, strict=True) if weight > 0)
    assume(room > 0)
    total = data.draw(st.integers(0, room))

    parts = allocate(total, weights, caps=caps)

    assert sum(parts) == total
    shares = capped_shares(total, weights, caps)
    for part, cap, share in zip(parts, caps, shares, strict=True):
        assert 0 <= part <= cap
        assert abs(part - share) < 1
    assert allocate(-total, weights, caps=caps) == [-part for part in parts]


@PROPERTY
@given(data=st.data(), weights=weight_lists)
def test_capped_allocation_refuses_a_total_beyond_the_room_of_the_caps(data, weights):
    caps = data.draw(st.lists(st.integers(0, 10**6), min_size=len(weights), max_size=len(weights)))
    room = sum(cap for cap, weight in zip(caps, weights, strict=True) if weight > 0)
    total = data.draw(st.integers(room + 1, room + BIG))

    with pytest.raises(ValueError):
        allocate(total, weights, caps=caps)


@PROPERTY
@given(total=amounts, weights=weight_lists)
def test_allocation_is_deterministic_and_generous_caps_change_nothing(total, weights):
    first = allocate(total, weights)

    assert allocate(total, list(weights)) == first
    assert allocate(total, weights, caps=[abs(total)] * len(weights)) == first

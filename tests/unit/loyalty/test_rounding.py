"""The rounding helpers that move to money.py: every mode at its edges, exact splits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cagnotte.programs.loyalty.rounding import Rounding, allocate, divide


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [
        (Rounding.DOWN, [2, -2, 2, -2]),
        (Rounding.UP, [3, -3, 3, -3]),
        (Rounding.FLOOR, [2, -3, 2, -3]),
        (Rounding.CEILING, [3, -2, 3, -2]),
        (Rounding.HALF_UP, [3, -3, 2, -2]),
        (Rounding.HALF_DOWN, [2, -2, 2, -2]),
        (Rounding.HALF_EVEN, [2, -2, 2, -2]),
    ],
)
def test_each_mode_rounds_halves_and_quarters_as_named(rounding, expected):
    assert [divide(5, 2, rounding), divide(-5, 2, rounding),
            divide(9, 4, rounding), divide(-9, 4, rounding)] == expected


def test_half_even_goes_to_the_even_neighbour():
    assert [divide(n, 2, Rounding.HALF_EVEN) for n in (1, 3, 5, 7)] == [0, 2, 2, 4]


def test_exact_divisions_are_not_rounded():
    assert all(divide(12, 4, rounding) == 3 for rounding in Rounding)


def test_allocate_gives_the_leftover_to_the_largest_remainders_lower_index_first():
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert allocate(2, [2997, 2997, 2997]) == [1, 1, 0]
    assert allocate(7, [0, 5, 5]) == [0, 4, 3]


@given(st.integers(-10**12, 10**12), st.integers(1, 10**6), st.sampled_from(list(Rounding)))
def test_divide_is_within_one_of_the_exact_quotient(numerator, denominator, rounding):
    result = divide(numerator, denominator, rounding)
    assert abs(result * denominator - numerator) < denominator


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
def test_allocated_parts_add_up_and_each_is_its_share_rounded(total, weights):
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    parts = allocate(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part * sum(weights) - total * weight) < sum(weights)

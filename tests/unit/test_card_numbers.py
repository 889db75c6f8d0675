"""Gift card numbers: random digits, the Luhn check digit, normalising what is typed, the hash.

seal_number / unseal_number are left out: they are about to be replaced.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cagnotte.programs.gift_cards.numbers import (
    NUMBER_LENGTH_MAX,
    NUMBER_LENGTH_MIN,
    RANDOM_DIGITS_MIN,
    luhn_check_digit,
    luhn_valid,
    new_card_number,
    new_pin,
    normalise_number,
    number_hash,
    random_digit_count,
)

# Pure functions, so examples are cheap: fewer than the default 100 keeps the unit
# tier fast, and no deadline, so that a loaded machine does not fail a test.
PROPERTY = settings(max_examples=60, deadline=None)

# Luhn ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "check_digit"),
    [("7992739871", "3"), ("411111111111111", "1"), ("0", "0"), ("1", "8"), ("", "0")],
)
def test_the_check_digit_of_known_numbers(body, check_digit):
    assert luhn_check_digit(body) == check_digit


@pytest.mark.parametrize("number", ["79927398713", "4111111111111111", "00", "18"])
def test_a_number_with_its_check_digit_is_valid(number):
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "number", ["79927398710", "4111111111111112", "", "0", "7992739871a", "4111 1111 1111 1111"]
)
def test_a_wrong_check_digit_a_single_digit_or_a_non_digit_is_not_valid(number):
    assert not luhn_valid(number)


@PROPERTY
@given(st.text("0123456789", min_size=1, max_size=18), st.data())
def test_the_check_digit_catches_every_single_wrong_digit(body, data):
    number = body + luhn_check_digit(body)
    position = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))

    assert luhn_valid(number)
    assert not luhn_valid(number[:position] + wrong + number[position + 1 :])


def test_the_check_digit_catches_swapped_neighbours_except_09_and_90():
    for first in "0123456789":
        for second in "0123456789":
            body = "41234" + first + second + "1234567"
            swapped = body[:5] + second + first + body[7:] + luhn_check_digit(body)
            caught = not luhn_valid(swapped)
            assert caught == (first != second and {first, second} != {"0", "9"}), swapped


# New numbers and PINs ------------------------------------------------------------------------


@PROPERTY
@given(
    length=st.integers(NUMBER_LENGTH_MIN, NUMBER_LENGTH_MAX),
    prefix=st.text("0123456789", max_size=3),
    luhn=st.booleans(),
)
def test_a_new_number_has_its_length_its_prefix_and_when_asked_a_valid_check_digit(
    length, prefix, luhn
):
    number = new_card_number(length, prefix, luhn)

    assert len(number) == length
    assert number.startswith(prefix)
    assert number.isascii() and number.isdigit()
    if luhn:
        assert luhn_valid(number)


def test_the_random_digits_are_what_the_prefix_and_the_check_digit_leave():
    assert random_digit_count(16, "6034", True) == 11
    assert random_digit_count(16, "6034", False) == 12
    assert random_digit_count(12, "", True) == 11


def test_a_program_leaving_too_few_random_digits_is_a_programmer_error():
    assert random_digit_count(12, "123", True) == RANDOM_DIGITS_MIN
    new_card_number(12, "123", True)
    with pytest.raises(AssertionError):
        new_card_number(12, "1234", True)


def test_new_numbers_do_not_repeat():
    numbers = {new_card_number(16, "", True) for _ in range(1000)}

    assert len(numbers) == 1000


@pytest.mark.parametrize("length", [0, 4, 8])
def test_a_new_pin_is_that_many_digits(length):
    pin = new_pin(length)

    assert len(pin) == length
    assert pin == "" or (pin.isascii() and pin.isdigit())


def test_pins_use_every_digit():
    assert set("".join(new_pin(8) for _ in range(200))) == set("0123456789")


# What is typed or scanned --------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", " 4111111111111111\n"],
)
def test_a_number_is_read_with_spaces_and_dashes_dropped(typed):
    assert normalise_number(typed) == "4111111111111111"


def test_the_shortest_and_longest_numbers_are_read():
    assert normalise_number("1" * NUMBER_LENGTH_MIN) == "1" * 12
    assert normalise_number("1" * NUMBER_LENGTH_MAX) == "1" * 19


@pytest.mark.parametrize(
    "typed",
    ["", "1" * 11, "1" * 20, "4111x11111111111", "4111\t1111 1111 1111", "4111.1111.1111.1111"],
)
def test_what_cannot_be_a_card_number_is_none(typed):
    assert normalise_number(typed) is None


@pytest.mark.parametrize("typed", ["١٢٣٤٥٦٧٨٩٠١٢", "²²²²²²²²²²²²"])
def test_digits_of_other_scripts_are_not_a_card_number(typed):
    assert normalise_number(typed) is None
    assert not luhn_valid(typed)


def test_a_number_is_hashed_by_hmac_sha256_under_the_server_key():
    digest = number_hash(b"server key", "4111111111111111")

    assert digest == "29cfec004304071c9412cc2b88995707d5da64e1743eebc39dff1e32c995a44d"
    assert number_hash(b"another key", "4111111111111111") != digest
    assert number_hash(b"server key", "4111111111111112") != digest

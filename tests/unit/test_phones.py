"""Phone numbers are kept in E.164; what cannot be a phone number is invalid_phone."""

from __future__ import annotations

import pytest

from cagnotte import errors
from cagnotte.crm.phones import normalise_phone


@pytest.mark.parametrize(
    "typed",
    [
        "+420 601 123 456",
        "+420601123456",
        "601123456",
        "601 123 456",
        "601-123-456",
        "(601) 123 456",
        "00420 601 123 456",
        " 601 123 456 ",
    ],
)
def test_a_czech_mobile_is_written_in_e164_however_it_was_typed(typed):
    assert normalise_phone(typed) == "+420601123456"


def test_a_number_without_a_country_code_is_read_in_the_default_region():
    assert normalise_phone("06 12 34 56 78", default_region="FR") == "+33612345678"
    assert normalise_phone("(650) 253-0000", default_region="US") == "+16502530000"


def test_a_number_with_a_country_code_ignores_the_default_region():
    assert normalise_phone("+33 6 12 34 56 78") == "+33612345678"
    assert normalise_phone("+420 601 123 456", default_region="FR") == "+420601123456"


def test_full_width_digits_are_read_as_digits():
    assert normalise_phone("６０１ １２３ ４５６") == "+420601123456"


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "abc", "601 12", "+420 601 123 456 789", "+999 601 123 456", "1" * 300],
)
def test_what_cannot_be_a_phone_number_is_invalid_phone(typed):
    with pytest.raises(errors.InvalidPhone):
        normalise_phone(typed)


def test_the_same_local_digits_are_another_number_in_another_default_region():
    assert normalise_phone("601123456", default_region="CZ") == "+420601123456"
    assert normalise_phone("601123456", default_region="FR") == "+33601123456"

"""Phone numbers, normalised to E.164."""

from __future__ import annotations

import phonenumbers

from cagnotte import errors


def normalise_phone(raw: str, default_region: str = "CZ") -> str:
    """'+420 601 123 456' or '601123456' (in the default region) → '+420601123456'."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise errors.InvalidPhone() from error
    if not phonenumbers.is_valid_number(number):
        raise errors.InvalidPhone()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

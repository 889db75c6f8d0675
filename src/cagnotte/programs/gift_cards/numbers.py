"""Card numbers: random digits from `secrets`, an optional Luhn check digit, a keyed hash.

A card number is shown once (the printer's export, the e-card's mail) and then
kept only as an HMAC-SHA256 under the server's key, plus its last four digits:
lookup works, and a copy of the database alone does not give the numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from cagnotte.security import sealing

# Below this many random digits a number could be guessed; the rest of the
# length is the program's prefix and the check digit.
RANDOM_DIGITS_MIN = 8
# Without a PIN the number alone is the credential, so it must be harder to guess.
RANDOM_DIGITS_MIN_WITHOUT_PIN = 12
NUMBER_LENGTH_MIN = 12
NUMBER_LENGTH_MAX = 19


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits + it` pass the Luhn check."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def ascii_digits(text: str) -> bool:
    """Whether `text` is made of the digits 0-9 only (str.isdigit admits ², ١ …)."""
    return text.isascii() and text.isdigit()


def luhn_valid(number: str) -> bool:
    return (
        ascii_digits(number) and len(number) >= 2 and (luhn_check_digit(number[:-1]) == number[-1])
    )


def random_digit_count(length: int, prefix: str, luhn: bool) -> int:
    return length - len(prefix) - (1 if luhn else 0)


def new_card_number(length: int, prefix: str, luhn: bool) -> str:
    """A fresh number: the prefix, random digits, and the check digit when asked."""
    count = random_digit_count(length, prefix, luhn)
    assert count >= RANDOM_DIGITS_MIN, "the program leaves too few random digits"
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(count))
    return body + luhn_check_digit(body) if luhn else body


def new_pin(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def normalise_number(text: str) -> str | None:
    """The digits of a number as typed or scanned (spaces and dashes dropped), or None."""
    digits = text.replace(" ", "").replace("-", "").strip()
    if not ascii_digits(digits) or not NUMBER_LENGTH_MIN <= len(digits) <= NUMBER_LENGTH_MAX:
        return None
    return digits


def number_hash(key: bytes, number: str) -> str:
    """The keyed hash a card is looked up by."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


# What an e-card's number is sealed for (security.sealing derives its key from the
# page token with this purpose).
PAGE_SEALING_PURPOSE = "e-card page number"


def seal_number(page_token: str, number: str, card_id: uuid.UUID) -> str:
    """The number sealed under a key only the e-card's page address holds, bound to its card."""
    return sealing.seal(page_token, PAGE_SEALING_PURPOSE, number.encode(), context=str(card_id))


def unseal_number(page_token: str, sealed: str, card_id: uuid.UUID) -> str:
    """The number of an e-card's page; SealBroken if the token or the value is not its own.

    Cards issued before the sealing moved to AES-GCM keep a hex value (a
    keystream of HMAC-SHA256 of the token, unauthenticated): it is still read,
    never written.
    """
    if sealing.is_sealed(sealed):
        return sealing.unseal(
            page_token, PAGE_SEALING_PURPOSE, sealed, context=str(card_id)
        ).decode()
    return _legacy_unseal_number(page_token, sealed)


def _legacy_unseal_number(page_token: str, sealed: str) -> str:
    """Reads the first form of a sealed number (a hex XOR keystream), kept for old cards."""
    raw = bytes.fromhex(sealed)
    keystream = hmac.new(page_token.encode(), b"gift card number", hashlib.sha256).digest()
    assert len(raw) <= len(keystream)
    return bytes(a ^ b for a, b in zip(raw, keystream, strict=False)).decode()

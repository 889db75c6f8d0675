"""Card numbers: random digits from `secrets`, an optional Luhn check digit, a keyed hash.

A card number is shown once (the printer's export, the e-card's mail) and then
kept only as an HMAC-SHA256 under the server's key, plus its last four digits:
lookup works, and a copy of the database alone does not give the numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

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


def _page_keystream(page_token: str, length: int) -> bytes:
    stream = hmac.new(page_token.encode(), b"gift card number", hashlib.sha256).digest()
    assert length <= len(stream)
    return stream[:length]


def seal_number(page_token: str, number: str) -> str:
    """The number hidden under a key only the e-card's page address holds."""
    keystream = _page_keystream(page_token, len(number))
    return bytes(a ^ b for a, b in zip(number.encode(), keystream, strict=True)).hex()


def unseal_number(page_token: str, sealed: str) -> str:
    raw = bytes.fromhex(sealed)
    keystream = _page_keystream(page_token, len(raw))
    return bytes(a ^ b for a, b in zip(raw, keystream, strict=True)).decode()

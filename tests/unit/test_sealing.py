"""Sealing (AES-GCM under a key derived by HKDF): round trips, and every tampering refused."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest

from cagnotte.programs.gift_cards.numbers import seal_number, unseal_number
from cagnotte.security import sealing
from cagnotte.security.sealing import SealBroken, seal, unseal

TOKEN = "page-token-of-192-random-bits-in-base64url"
CARD = uuid.UUID("5b0c6a44-5a3e-4f55-9d1c-3e0d1f4f6a01")


def test_a_sealed_value_opens_with_its_secret_purpose_and_context():
    sealed = seal(TOKEN, "a purpose", b"6035 1234 5678 9012", context=str(CARD))
    assert sealed.startswith("v2:")
    assert unseal(TOKEN, "a purpose", sealed, context=str(CARD)) == b"6035 1234 5678 9012"


def test_the_same_plaintext_seals_differently_each_time():
    first, second = (seal(TOKEN, "a purpose", b"same", context="c") for _ in range(2))
    assert first != second


@pytest.mark.parametrize(
    ("secret", "purpose", "context"),
    [
        ("another-token", "a purpose", str(CARD)),
        (TOKEN, "another purpose", str(CARD)),
        (TOKEN, "a purpose", str(uuid.uuid4())),
    ],
    ids=["another secret", "another purpose", "another row"],
)
def test_a_sealed_value_does_not_open_with_anything_else(secret, purpose, context):
    sealed = seal(TOKEN, "a purpose", b"secret", context=str(CARD))
    with pytest.raises(SealBroken):
        unseal(secret, purpose, sealed, context=context)


@pytest.mark.parametrize("replacement", ["A", "B", "_"])
def test_every_changed_character_of_a_sealed_value_is_detected(replacement):
    for _ in range(20):  # random nonces: the last character's spare bits vary
        sealed = seal(TOKEN, "a purpose", b"6035123456789012", context=str(CARD))
        for position in range(len(sealing.PREFIX), len(sealed)):
            if sealed[position] == replacement:
                continue
            tampered = sealed[:position] + replacement + sealed[position + 1 :]
            with pytest.raises(SealBroken):
                unseal(TOKEN, "a purpose", tampered, context=str(CARD))


@pytest.mark.parametrize("value", ["", "v2:", "v2:AAAA", "v2:not base64 !", "v3:AAAA", "00ff"])
def test_what_is_not_a_sealed_value_is_refused(value):
    with pytest.raises(SealBroken):
        unseal(TOKEN, "a purpose", value, context=str(CARD))


def test_an_ecard_number_is_sealed_for_its_page_and_card_only():
    number = "6035123456789012345"
    sealed = seal_number(TOKEN, number, CARD)
    # The longest number fits the column (gift_cards.number_sealed, 100 characters).
    assert sealed.startswith("v2:") and len(sealed) <= 100
    assert number not in sealed
    assert unseal_number(TOKEN, sealed, CARD) == number
    with pytest.raises(SealBroken):
        unseal_number(TOKEN, sealed, uuid.uuid4())
    with pytest.raises(SealBroken):
        unseal_number("the token of another page", sealed, CARD)


def test_a_number_sealed_in_the_first_form_is_still_read():
    # The first form: the number XOR an HMAC-SHA256 keystream of the token, in hex.
    number = "6035123456789012"
    keystream = hmac.new(TOKEN.encode(), b"gift card number", hashlib.sha256).digest()
    legacy = bytes(a ^ b for a, b in zip(number.encode(), keystream, strict=False)).hex()
    assert unseal_number(TOKEN, legacy, CARD) == number

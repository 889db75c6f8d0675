"""PINs kept as HMAC-SHA256 under a key of the settings: right, wrong, another key, rotation."""

from __future__ import annotations

import hashlib
import secrets

from cagnotte.programs.gift_cards import pins
from cagnotte.programs.gift_cards.pins import (
    PinKey,
    hash_argon2_pin,
    keyed_pin_hash,
    verify_pin,
)
from cagnotte.security.hash_keys import HashKeys, key_id

NUMBER = "6034561234567890"
PIN = "4821"
KEY = secrets.token_bytes(32)
OTHER_KEY = secrets.token_bytes(32)


def pin_key(*keys: bytes) -> PinKey:
    # Configured keys: the database (for a development key) is never asked.
    return PinKey(None, None, keys)  # type: ignore[arg-type]


def test_the_right_pin_verifies_under_its_key_and_a_wrong_one_does_not():
    keys = HashKeys((KEY,))
    stored = keyed_pin_hash(KEY, NUMBER, PIN)

    assert verify_pin(stored, NUMBER, PIN, keys, key_id(KEY))
    assert not verify_pin(stored, NUMBER, "4822", keys, key_id(KEY))
    # The number is part of the message: the same PIN of another card is another hash.
    assert not verify_pin(stored, "6034561234567891", PIN, keys, key_id(KEY))


def test_the_hash_is_compared_in_constant_time(monkeypatch):
    compared = []
    original = pins.hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(pins.hmac, "compare_digest", compare_digest)
    keys = HashKeys((KEY,))
    stored = keyed_pin_hash(KEY, NUMBER, PIN)

    assert verify_pin(stored, NUMBER, PIN, keys, key_id(KEY))
    assert not verify_pin(stored, NUMBER, "0000", keys, key_id(KEY))
    assert len(compared) == 2 and all(b == stored for _a, b in compared)


def test_a_hash_does_not_verify_under_another_key():
    stored = keyed_pin_hash(KEY, NUMBER, PIN)

    # The setting holds another key only: the card's key id is unknown.
    assert not verify_pin(stored, NUMBER, PIN, HashKeys((OTHER_KEY,)), key_id(KEY))
    # Nor when the stored id is made to name the other key.
    assert not verify_pin(stored, NUMBER, PIN, HashKeys((OTHER_KEY,)), key_id(OTHER_KEY))


def test_without_the_key_no_pin_of_the_ten_thousand_matches_the_stored_hash():
    stored = keyed_pin_hash(KEY, NUMBER, PIN)
    candidates = [f"{value:04d}" for value in range(10_000)]

    unkeyed = {hashlib.sha256(f"{NUMBER}:{pin}".encode()).hexdigest() for pin in candidates}
    under_another_key = {keyed_pin_hash(OTHER_KEY, NUMBER, pin) for pin in candidates}
    assert stored not in unkeyed and stored not in under_another_key
    # With the key, exactly the card's PIN does.
    assert [pin for pin in candidates if keyed_pin_hash(KEY, NUMBER, pin) == stored] == [PIN]


def test_after_a_rotation_a_hash_under_the_older_key_verifies_and_asks_for_a_rehash():
    new_key = secrets.token_bytes(32)
    rotated = pin_key(new_key, KEY)
    stored = keyed_pin_hash(KEY, NUMBER, PIN)

    assert rotated.verify(stored, key_id(KEY), NUMBER, PIN)
    assert rotated.needs_rehash(key_id(KEY))
    rehashed = rotated.hash(NUMBER, PIN)
    assert rehashed.key_id == key_id(new_key) and rehashed.digest != stored
    assert rotated.verify(rehashed.digest, rehashed.key_id, NUMBER, PIN)
    assert not rotated.needs_rehash(rehashed.key_id)
    # Once the older key is dropped, a card still under it no longer verifies.
    assert not pin_key(new_key).verify(stored, key_id(KEY), NUMBER, PIN)


def test_an_argon2_hash_from_before_the_keyed_hash_still_verifies_and_asks_for_a_rehash():
    keys = pin_key(KEY)
    stored = hash_argon2_pin(NUMBER, PIN)

    assert keys.verify(stored, None, NUMBER, PIN)
    assert not keys.verify(stored, None, NUMBER, "0000")
    assert keys.needs_rehash(None)


def test_a_card_without_a_hash_never_verifies():
    assert not pin_key(KEY).verify(None, None, NUMBER, PIN)
    assert not pin_key(KEY).verify(None, key_id(KEY), NUMBER, PIN)

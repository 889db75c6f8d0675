"""PINs, kept as a keyed hash: HMAC-SHA256 under a key held in the settings.

A 4-digit PIN has 10,000 values: no hash cost protects it from whoever holds
the hash, 10,000 tries of argon2 take a minute. What protects it is a key the
database does not hold: the PIN is stored as HMAC-SHA256(key, number:PIN), the
key lives in the settings (CAGNOTTE_GIFT_CARD_PIN_KEY, security/hash_keys.py),
so a stolen database reveals no PIN and a test of a guess needs the key; online,
the program's lockout stops guessing after a few wrong PINs. The number (random,
itself stored only as a keyed hash under another key) is part of the message,
so even the PIN key alone does not make the hashes a table of PINs.

Each card records the id of its PIN key (`pin_key_id`): the key can rotate
like the number keys, a card checked under an older key is hashed again under
the newest. Cards issued before the keyed hash kept an argon2id hash (no key
id); it still verifies, and the card is hashed again with the key on its next
right PIN. A check costs a microsecond, so it may run inside the unit of work
that spends; an argon2 one (milliseconds) still runs with no transaction open.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.programs.gift_cards import repository
from cagnotte.security.hash_keys import HashKeys, KeyUsage
from cagnotte.security.platform_keys import HashKeySource

# Cards issued before the keyed hash: argon2id at this (small) cost.
ARGON2_PREFIX = "$argon2"
_argon2 = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def _message(number: str, pin: str) -> bytes:
    return f"cagnotte gift card pin:{number}:{pin}".encode()


def keyed_pin_hash(key: bytes, number: str, pin: str) -> str:
    """HMAC-SHA256 of the card's number and PIN under `key`, as hex."""
    return hmac.new(key, _message(number, pin), hashlib.sha256).hexdigest()


def is_argon2(pin_hash: str | None, pin_key_id: str | None) -> bool:
    """Whether a card still holds an argon2 hash from before the keyed hash."""
    return pin_key_id is None and pin_hash is not None and pin_hash.startswith(ARGON2_PREFIX)


def verify_pin(
    pin_hash: str | None, number: str, pin: str, keys: HashKeys, pin_key_id: str | None
) -> bool:
    """True when the PIN is right; a missing hash or an unknown key costs one check all the same.

    The keyed hash is compared in constant time (hmac.compare_digest). A hash
    under a key no longer configured verifies with no key: it is a wrong PIN.
    """
    if is_argon2(pin_hash, pin_key_id):
        assert pin_hash is not None
        try:
            return _argon2.verify(pin_hash, f"{number}:{pin}")
        except (VerificationError, InvalidHashError):
            return False
    key = keys.newest
    if pin_key_id is not None and pin_key_id in keys.ids:
        key = keys.keys[keys.ids.index(pin_key_id)]
    digest = keyed_pin_hash(key, number, pin)
    known = pin_hash is not None and pin_key_id in keys.ids
    return hmac.compare_digest(digest, pin_hash or _NO_HASH) and known


def hash_argon2_pin(number: str, pin: str) -> str:
    """An argon2 hash as cards issued before the keyed hash hold (for tests of the migration)."""
    return _argon2.hash(f"{number}:{pin}")


# Compared against when a card has no hash, so that the comparison still runs.
_NO_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class PinHash:
    """A PIN's keyed hash and the id of its key: what a card stores."""

    digest: str
    key_id: str


class PinKey:
    """The HMAC keys of PINs: the setting's (newest first), or a platform key made once."""

    def __init__(self, database: Database, clock: Clock, configured: tuple[bytes, ...]) -> None:
        self.database = database
        self._source = HashKeySource(database, clock, configured, "gift_card_pins")

    def keys(self) -> HashKeys:
        # Made (once) before a use case's transaction takes the write lock.
        return self._source.keys()

    def hash(self, number: str, pin: str) -> PinHash:
        """The PIN's hash under the newest key: what a new card (or a rehash) stores."""
        keys = self.keys()
        return PinHash(keyed_pin_hash(keys.newest, number, pin), keys.newest_id)

    def verify(self, pin_hash: str | None, pin_key_id: str | None, number: str, pin: str) -> bool:
        return verify_pin(pin_hash, number, pin, self.keys(), pin_key_id)

    def needs_rehash(self, pin_key_id: str | None) -> bool:
        """Whether a card whose PIN was just proven right should be hashed again (newest key)."""
        return pin_key_id != self.keys().newest_id

    def usage(self) -> KeyUsage:
        """How many cards with a PIN, not closed, are hashed under each key (None: argon2)."""
        with self.database.read() as connection:
            counts = repository.pin_key_counts(connection)
        return KeyUsage(key_ids=self.keys().ids, rows_by_key=counts)

    def burn_check(self) -> None:
        """Spend the time of one keyed PIN check, so timing does not tell a known card."""
        verify_pin(None, "0", "0", self.keys(), None)

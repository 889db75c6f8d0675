"""The keys of the keyed hashes gift card numbers and bonus codes are found by.

A card number or a bonus code is stored only as a keyed hash (HMAC-SHA256,
BLAKE2b): whoever holds a copy of the database and the key can try every
number against the hashes, so in production the key is a setting
(CAGNOTTE_GIFT_CARD_NUMBER_KEY, CAGNOTTE_BONUS_CODE_KEY) and lives apart from
the database; in development a key made once and kept in the database
(`platform_keys`) stands in for it.

A setting holds one key or several, separated by commas, newest first: new
hashes use the newest, a look-up tries each (one query, `IN` over the
candidate hashes) and a row found under an older key is hashed again under the
newest. Every row records the id of its key (`key_id`, which tells nothing of
the key), so that `cagnotte keys status` can count the rows that still need an
older key. The rotation is described in docs/keys.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field

# A key carries at least this many random bytes (256 bits).
KEY_BYTES_MIN = 32
# Random bytes this many are all but never so repetitive; "aaaa…" or a short
# pattern repeated is a typed key, not a drawn one.
KEY_DISTINCT_BYTES_MIN = 16
KEY_ID_LENGTH = 16
KEY_ADVICE = (
    "at least 32 random bytes written as hex or base64, made with e.g. "
    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)
_HEX = re.compile(r"[0-9a-fA-F]+")


def decode_key(text: str) -> bytes:
    """The bytes of a key written as hex or base64 (URL-safe or not, padded or not).

    Raises ValueError when the text is neither, or the key is too short or too
    repetitive to have been drawn at random.
    """
    text = text.strip()
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        key = bytes.fromhex(text)
    else:
        try:
            key = base64.b64decode(
                text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                validate=True,
            )
        except (binascii.Error, ValueError):
            raise ValueError(f"a key is {KEY_ADVICE}") from None
    if len(key) < KEY_BYTES_MIN or len(set(key)) < KEY_DISTINCT_BYTES_MIN:
        raise ValueError(f"a key is too weak: use {KEY_ADVICE}")
    return key


def parse_keys(text: str | None) -> tuple[bytes, ...]:
    """The keys of a setting, newest first: `newest,older,…`; none when unset."""
    if text is None or not text.strip():
        return ()
    keys = tuple(decode_key(part) for part in text.split(","))
    if len(set(keys)) != len(keys):
        raise ValueError("a key is listed twice")
    return keys


def key_id(key: bytes) -> str:
    """A short name of the key, stored beside each hash; it reveals nothing of the key."""
    return hmac.new(key, b"cagnotte hash key id", hashlib.sha256).hexdigest()[:KEY_ID_LENGTH]


@dataclass(frozen=True, slots=True)
class HashKeys:
    """The keys of one kind of hash, newest first."""

    keys: tuple[bytes, ...]
    ids: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        assert self.keys, "at least one key"
        object.__setattr__(self, "ids", tuple(key_id(key) for key in self.keys))

    @property
    def newest(self) -> bytes:
        return self.keys[0]

    @property
    def newest_id(self) -> str:
        return self.ids[0]

    @property
    def older(self) -> tuple[bytes, ...]:
        return self.keys[1:]


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """How many rows that may still be looked up are hashed under each key.

    `rows_by_key` is keyed by key id; None counts rows hashed before key ids
    were recorded (under the key of that time).
    """

    key_ids: tuple[str, ...]
    rows_by_key: dict[str | None, int]

    @property
    def under_newest_key(self) -> int:
        return self.rows_by_key.get(self.key_ids[0], 0)

    @property
    def under_older_keys(self) -> int:
        """Rows an older key must stay for: when 0, the older keys may be dropped."""
        return sum(self.rows_by_key.values()) - self.under_newest_key

    @property
    def under_unknown_keys(self) -> int:
        """Rows under a key that is not configured: no look-up finds them."""
        return sum(
            count
            for identity, count in self.rows_by_key.items()
            if identity is not None and identity not in self.key_ids
        )

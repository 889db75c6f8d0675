"""The keys of card number hashes: the newest for new cards, every one for a look-up.

A card is found by the HMAC of its number under one of the keys (newest
first, security/hash_keys.py). A card found under an older key, or one hashed
before key ids were recorded, is hashed again under the newest when a look-up
(which knows the number) finds it, so that `cagnotte keys status` counts down
to the day an older key may be dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.programs.gift_cards import repository
from cagnotte.programs.gift_cards.numbers import number_hash
from cagnotte.programs.gift_cards.rows import CardRow
from cagnotte.security.hash_keys import HashKeys, KeyUsage
from cagnotte.security.platform_keys import HashKeySource


class NumberKey:
    """The HMAC keys of card numbers: the setting's, or a platform key made once."""

    def __init__(self, database: Database, clock: Clock, configured: Sequence[bytes]) -> None:
        self.database = database
        self._source = HashKeySource(database, clock, configured, "gift_card_numbers")

    def keys(self) -> HashKeys:
        # Made (once) before a use case's transaction takes the write lock.
        return self._source.keys()

    def value(self) -> bytes:
        return self.keys().newest

    def hash(self, digits: str) -> str:
        """The number's hash under the newest key: what a new card stores."""
        return number_hash(self.keys().newest, digits)

    def hashes(self, digits: str) -> list[str]:
        """The number's hash under each key, newest first: what a look-up tries."""
        return [number_hash(key, digits) for key in self.keys().keys]

    def rehashed(self, card: CardRow, digits: str) -> CardRow:
        """The card a look-up found by `digits`, hashed under the newest key if it was not."""
        keys = self.keys()
        if card.number_key_id == keys.newest_id:
            return card
        digest = number_hash(keys.newest, digits)
        with self.database.transaction() as connection:
            repository.rehash_number(connection, card, digest, keys.newest_id)
        return dataclasses.replace(card, number_hash=digest, number_key_id=keys.newest_id)

    def usage(self) -> KeyUsage:
        """How many cards that are not closed are hashed under each key."""
        with self.database.read() as connection:
            counts = repository.number_key_counts(connection)
        return KeyUsage(key_ids=self.keys().ids, rows_by_key=counts)

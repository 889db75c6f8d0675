"""Keys the platform keeps for itself, made on first use and stored in the database."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.tables import platform_keys
from cagnotte.security.hash_keys import HashKeys

_cache: dict[tuple[str, str], bytes] = {}
_lock = threading.Lock()


def platform_key(database: Database, clock: Clock, name: str) -> bytes:
    """The secret named `name` (32 random bytes), the same across restarts and processes."""
    cache_key = (database.url, name)
    if cache_key in _cache:
        return _cache[cache_key]
    with database.read() as connection:
        secret = connection.execute(
            select(platform_keys.c.secret).where(platform_keys.c.name == name)
        ).scalar()
    if secret is None:
        made = secrets.token_hex(32)
        try:
            with database.transaction() as connection:
                connection.execute(
                    insert(platform_keys).values(name=name, secret=made, created_at=clock.now())
                )
            secret = made
        except IntegrityError:
            # Another process made it first: read theirs, in a transaction of its
            # own (a read open in this thread, which read() would join, may hold a
            # snapshot from before their insert).
            with database.transaction() as connection:
                secret = connection.execute(
                    select(platform_keys.c.secret).where(platform_keys.c.name == name)
                ).scalar_one()
    with _lock:
        _cache[cache_key] = bytes.fromhex(secret)
    return _cache[cache_key]


class HashKeySource:
    """The keys of one kind of keyed hash: the configured ones (newest first), or,
    when none is (development only: production refuses to start without them),
    the platform key `name`, made once and kept in the database."""

    def __init__(
        self, database: Database, clock: Clock, configured: Sequence[bytes], name: str
    ) -> None:
        self.database = database
        self.clock = clock
        self.name = name
        self._keys = HashKeys(tuple(configured)) if configured else None

    def keys(self) -> HashKeys:
        # The platform key is made (once) in a transaction of its own: fetch the
        # keys before a use case's transaction takes the write lock.
        if self._keys is None:
            self._keys = HashKeys((platform_key(self.database, self.clock, self.name),))
        return self._keys

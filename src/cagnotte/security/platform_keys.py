"""Keys the platform keeps for itself, made on first use and stored in the database."""

from __future__ import annotations

import secrets
import threading

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.tables import platform_keys

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
        try:
            with database.transaction() as connection:
                connection.execute(
                    insert(platform_keys).values(
                        name=name, secret=secrets.token_hex(32), created_at=clock.now()
                    )
                )
        except IntegrityError:
            pass  # another process made it first; read theirs
        with database.read() as connection:
            secret = connection.execute(
                select(platform_keys.c.secret).where(platform_keys.c.name == name)
            ).scalar_one()
    with _lock:
        _cache[cache_key] = bytes.fromhex(secret)
    return _cache[cache_key]

"""Names as the directory searches them: without case or accents."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def fold(text: str) -> str:
    """`Éloïse Dvořák` → `eloise dvorak`: decomposed (NFKD), marks dropped, case-folded,
    spaces collapsed; the same on both databases (SQLite has no unaccent)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


# pg_trgm finds a fragment's names by its trigrams: three characters at least.
TRIGRAM_FRAGMENT_MIN = 3


@contextmanager
def found_by_trigrams(connection: Connection, *fragments: str) -> Iterator[None]:
    """On PostgreSQL, the statements inside find fragments (of a name, of a phone) of
    three characters or more through the trigram indexes (migration 0035), not by
    walking the name index.

    The planner takes the walk whenever the matches are many, as if they were spread
    evenly through the names; they are not (a first name's are together), and a
    common first name late in the alphabet was then read through 95 000 of 100 000
    rows (379 ms) where the trigram index and a sort of its 2 700 matches took
    18.5 ms, one after the other on a loaded machine (bench/README.md). Shorter
    fragments have no trigram: the walk finds their many matches at once.
    """
    if connection.dialect.name != "postgresql" or all(
        len(fragment) < TRIGRAM_FRAGMENT_MIN for fragment in fragments
    ):
        yield
        return
    connection.exec_driver_sql("SET LOCAL enable_indexscan = off")
    try:
        yield
    except DBAPIError:
        raise  # the transaction is lost, and the setting with it
    except BaseException:
        connection.exec_driver_sql("SET LOCAL enable_indexscan TO DEFAULT")
        raise
    # A read() may be joined by other reads after this one.
    connection.exec_driver_sql("SET LOCAL enable_indexscan TO DEFAULT")

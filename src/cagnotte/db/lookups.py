"""Platform-wide look-ups: values unique across merchants, found without knowing the merchant.

A staff member signs in with an e-mail alone, an API key arrives without its
merchant, a customer types a bonus code without saying whose it is. Those values
are claimed in `platform_lookups` in the transaction that creates the
merchant's row (the claim is the uniqueness check: `INSERT … ON CONFLICT DO
NOTHING`, so parallel requests cannot both get one), and resolve to the
merchant and the row's id, which is then read by its primary key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cagnotte.db.tables import platform_lookups


class LookupKind(StrEnum):
    """What a platform-wide value names."""

    STAFF_EMAIL = "staff_email"
    API_KEY = "api_key"
    # A bonus campaign's variable symbol, which a bank payment quotes alone.
    VARIABLE_SYMBOL = "variable_symbol"
    # The hash of an e-card page's token: the link alone names the card.
    ECARD_PAGE = "ecard_page"


def claim(
    connection: Connection,
    kind: LookupKind,
    value: str,
    merchant_id: uuid.UUID,
    row_id: uuid.UUID,
    now: datetime,
) -> bool:
    """Claim `value` for this row; False when another row holds it already."""
    insert = pg_dialect.insert if connection.dialect.name == "postgresql" else sqlite_dialect.insert
    claimed = connection.execute(
        insert(platform_lookups)
        .values(
            kind=kind.value, value=value, merchant_id=merchant_id, row_id=row_id, created_at=now
        )
        .on_conflict_do_nothing()
        .returning(platform_lookups.c.row_id)
    ).first()
    return claimed is not None


def find(
    connection: Connection, kind: LookupKind, value: str
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The (merchant_id, row id) that holds `value`, if any."""
    row = connection.execute(
        select(platform_lookups.c.merchant_id, platform_lookups.c.row_id).where(
            platform_lookups.c.kind == kind.value, platform_lookups.c.value == value
        )
    ).first()
    return None if row is None else (row.merchant_id, row.row_id)


def release(connection: Connection, kind: LookupKind, value: str) -> None:
    """Give a value up (its row no longer holds it)."""
    connection.execute(
        delete(platform_lookups).where(
            platform_lookups.c.kind == kind.value, platform_lookups.c.value == value
        )
    )

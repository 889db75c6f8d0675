"""SQL the tests use to look at what a request left behind."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from cagnotte.db.tables import idempotency_records, journal_entries


def entries_of_key(key: str) -> Select:
    """How many journal entries the requests with this Idempotency-Key posted."""
    return (
        select(func.count())
        .select_from(journal_entries)
        .join(
            idempotency_records,
            (idempotency_records.c.merchant_id == journal_entries.c.merchant_id)
            & (idempotency_records.c.entry_id == journal_entries.c.id),
        )
        .where(idempotency_records.c.key == key)
    )

"""Reading one merchant's row by id: the look-up nearly every use case starts with."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, RowMapping, Table, select

from cagnotte import errors


def merchant_row(
    connection: Connection,
    table: Table,
    merchant_id: uuid.UUID,
    row_id: uuid.UUID,
    *,
    missing: str | None = None,
    for_update: bool = False,
) -> RowMapping:
    """The row of `table` with this id, if it is the merchant's; otherwise NotFound.

    Another merchant's row gets the same answer as no row at all. With
    for_update the row stays locked until the transaction ends (PostgreSQL; SQLite
    has one writer at a time).
    """
    query = select(table).where(table.c.merchant_id == merchant_id, table.c.id == row_id)
    if for_update and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    if row is None:
        raise errors.NotFound(missing)
    return row

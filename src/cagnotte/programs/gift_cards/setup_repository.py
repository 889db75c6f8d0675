"""The queries of what a merchant sets up: programs, batches of printed cards, resellers.

As in `repository`: each function takes the connection it runs on, and every
query names the merchant.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from cagnotte.db.pages import (
    Order,
    Page,
    PageRequest,
    fetch_page,
)
from cagnotte.db.rows import merchant_row
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.rows import Reseller
from cagnotte.programs.gift_cards.tables import (
    gift_card_batch_secrets,
    gift_card_batches,
    gift_card_programs,
    gift_card_reseller_programs,
    gift_card_resellers,
    gift_cards,
)

NO_SUCH_PROGRAM = "No such program."
NO_SUCH_BATCH = "No such batch."
NO_SUCH_RESELLER = "No such reseller."


# Batches ----------------------------------------------------------------------------


def batch(connection: Connection, merchant_id: uuid.UUID, batch_id: uuid.UUID) -> Any:
    return merchant_row(connection, gift_card_batches, merchant_id, batch_id, missing=NO_SUCH_BATCH)


def insert_batch(connection: Connection, values: Mapping[str, Any]) -> None:
    connection.execute(insert(gift_card_batches).values(**values))


def insert_batch_secret(connection: Connection, values: Mapping[str, Any]) -> None:
    connection.execute(insert(gift_card_batch_secrets).values(**values))


def batch_states(
    connection: Connection, merchant_id: uuid.UUID, batch_id: uuid.UUID
) -> dict[str, int]:
    """How many of the batch's cards are in each state."""
    rows = connection.execute(
        select(gift_cards.c.state, func.count())
        .where(gift_cards.c.merchant_id == merchant_id, gift_cards.c.batch_id == batch_id)
        .group_by(gift_cards.c.state)
    ).all()
    return {state: int(count) for state, count in rows}


def batch_cards(
    connection: Connection,
    merchant_id: uuid.UUID,
    batch_id: uuid.UUID,
    *,
    sequences: tuple[int, int] | None,
    number_hashes: Sequence[str] | None,
) -> list[tuple[uuid.UUID, str]]:
    """(card_id, state) of the batch's cards in a range of sequence numbers or a list."""
    query = select(gift_cards.c.id, gift_cards.c.state).where(
        gift_cards.c.merchant_id == merchant_id, gift_cards.c.batch_id == batch_id
    )
    if sequences is not None:
        query = query.where(gift_cards.c.batch_sequence.between(*sequences))
    if number_hashes is not None:
        query = query.where(gift_cards.c.number_hash.in_(number_hashes))
    rows = connection.execute(query.order_by(gift_cards.c.batch_sequence)).all()
    return [(card_id, state) for card_id, state in rows]


def claim_batch_export(
    connection: Connection, merchant_id: uuid.UUID, batch_id: uuid.UUID, now: datetime
) -> bool:
    """Mark the batch exported, in the statement that checks it was not: True once."""
    return (
        connection.execute(
            update(gift_card_batches)
            .where(
                gift_card_batches.c.merchant_id == merchant_id,
                gift_card_batches.c.id == batch_id,
                gift_card_batches.c.exported_at.is_(None),
            )
            .values(exported_at=now)
        ).rowcount
        == 1
    )


def take_batch_secrets(
    connection: Connection, merchant_id: uuid.UUID, batch_id: uuid.UUID
) -> list[Any]:
    """The batch's plain numbers and PINs, deleted as they are read."""
    secret_filter = (gift_card_batch_secrets.c.merchant_id == merchant_id) & (
        gift_card_batch_secrets.c.batch_id == batch_id
    )
    rows = (
        connection.execute(
            select(gift_card_batch_secrets)
            .where(secret_filter)
            .order_by(gift_card_batch_secrets.c.batch_sequence)
        )
        .mappings()
        .all()
    )
    connection.execute(delete(gift_card_batch_secrets).where(secret_filter))
    return list(rows)


# Programs ---------------------------------------------------------------------------


def program(connection: Connection, merchant_id: uuid.UUID, program_id: uuid.UUID) -> Program:
    return Program.from_row(
        merchant_row(
            connection, gift_card_programs, merchant_id, program_id, missing=NO_SUCH_PROGRAM
        )
    )


def programs(connection: Connection, merchant_id: uuid.UUID) -> list[Program]:
    rows = connection.execute(
        select(gift_card_programs)
        .where(gift_card_programs.c.merchant_id == merchant_id)
        .order_by(gift_card_programs.c.created_at)
    ).mappings()
    return [Program.from_row(row) for row in rows]


def programs_page(
    connection: Connection,
    merchant_id: uuid.UUID,
    program_ids: Collection[uuid.UUID] | None,
    page: PageRequest,
) -> Page[Program]:
    """A page of the merchant's programs (of these only, unless None), oldest first."""
    query = select(gift_card_programs).where(gift_card_programs.c.merchant_id == merchant_id)
    if program_ids is not None:
        query = query.where(gift_card_programs.c.id.in_(program_ids))
    order = Order("gift_card_programs", (gift_card_programs.c.created_at, gift_card_programs.c.id))
    return fetch_page(connection, query, order, page).map(Program.from_row)


def insert_program(connection: Connection, values: Mapping[str, Any]) -> None:
    connection.execute(insert(gift_card_programs).values(**values))


def update_program(
    connection: Connection,
    merchant_id: uuid.UUID,
    program_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> None:
    connection.execute(
        update(gift_card_programs)
        .where(
            gift_card_programs.c.merchant_id == merchant_id, gift_card_programs.c.id == program_id
        )
        .values(**changes)
    )


# Resellers --------------------------------------------------------------------------


def reseller(connection: Connection, merchant_id: uuid.UUID, reseller_id: uuid.UUID) -> Reseller:
    row = merchant_row(
        connection, gift_card_resellers, merchant_id, reseller_id, missing=NO_SUCH_RESELLER
    )
    return _reseller(connection, row)


def reseller_by_key(
    connection: Connection, merchant_id: uuid.UUID, api_key_id: uuid.UUID | None
) -> Reseller | None:
    row = (
        connection.execute(
            select(gift_card_resellers).where(
                gift_card_resellers.c.merchant_id == merchant_id,
                gift_card_resellers.c.api_key_id == api_key_id,
            )
        )
        .mappings()
        .first()
    )
    return _reseller(connection, row) if row is not None else None


def resellers(connection: Connection, merchant_id: uuid.UUID, page: PageRequest) -> Page[Reseller]:
    """A page of the merchant's resellers, oldest first."""
    query = select(gift_card_resellers).where(gift_card_resellers.c.merchant_id == merchant_id)
    order = Order(
        "gift_card_resellers", (gift_card_resellers.c.created_at, gift_card_resellers.c.id)
    )
    return fetch_page(connection, query, order, page).map(partial(_reseller, connection))


def insert_reseller(
    connection: Connection, values: Mapping[str, Any], program_ids: Iterable[uuid.UUID]
) -> None:
    connection.execute(insert(gift_card_resellers).values(**values))
    for program_id in program_ids:
        connection.execute(
            insert(gift_card_reseller_programs).values(
                merchant_id=values["merchant_id"],
                reseller_id=values["id"],
                program_id=program_id,
            )
        )


def _reseller(connection: Connection, row: Any) -> Reseller:
    program_ids = (
        connection.execute(
            select(gift_card_reseller_programs.c.program_id).where(
                gift_card_reseller_programs.c.merchant_id == row["merchant_id"],
                gift_card_reseller_programs.c.reseller_id == row["id"],
            )
        )
        .scalars()
        .all()
    )
    return Reseller(
        merchant_id=row["merchant_id"],
        id=row["id"],
        name=row["name"],
        email=row["email"],
        api_key_id=row["api_key_id"],
        created_at=row["created_at"],
        program_ids=tuple(sorted(program_ids)),
    )

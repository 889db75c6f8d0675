"""Every query on gift cards and their operation log, in one place; rows come back typed.

Each function takes the connection (or the unit of work) it runs on, so the use
case decides the transaction: a read of its own, or the unit of work that also
holds its locks. Every query names the merchant: another merchant's row looks
exactly like no row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, select, update

from cagnotte.db import lookups
from cagnotte.db.lookups import LookupKind
from cagnotte.db.pages import (
    Order,
    Page,
    PageRequest,
    fetch_page,
)
from cagnotte.db.rows import merchant_row
from cagnotte.db.tables import idempotency_records, transfers
from cagnotte.db.unit_of_work import UnitOfWork
from cagnotte.programs.gift_cards import rules
from cagnotte.programs.gift_cards.program import Program
from cagnotte.programs.gift_cards.rows import CardRow, OperationRow
from cagnotte.programs.gift_cards.rules import DayActivity
from cagnotte.programs.gift_cards.tables import (
    gift_card_lookups,
    gift_card_operations,
    gift_card_programs,
    gift_cards,
)
from cagnotte.programs.gift_cards.views import CardOperation

NO_SUCH_CARD = "No such card."

# Cards ------------------------------------------------------------------------------


def card(connection: Connection, merchant_id: uuid.UUID, card_id: uuid.UUID) -> CardRow:
    """The merchant's card; otherwise not_found."""
    return CardRow.from_mapping(
        merchant_row(connection, gift_cards, merchant_id, card_id, missing=NO_SUCH_CARD)
    )


def lock_card(unit: UnitOfWork, card_id: uuid.UUID) -> CardRow:
    """The merchant's card, its row locked until the unit of work ends."""
    return CardRow.from_mapping(unit.lock(gift_cards, card_id, missing=NO_SUCH_CARD))


def lock_cards(unit: UnitOfWork, card_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CardRow]:
    """The merchant's cards among these ids, locked in the global order (by id)."""
    rows = unit.lock_many(gift_cards, card_ids)
    return {row["id"]: CardRow.from_mapping(row) for row in rows}


def card_by_number_hashes(
    connection: Connection, merchant_id: uuid.UUID, digests: Sequence[str]
) -> CardRow | None:
    """The merchant's card whose number has one of these hashes (one per key)."""
    row = (
        connection.execute(
            select(gift_cards).where(
                gift_cards.c.merchant_id == merchant_id, gift_cards.c.number_hash.in_(digests)
            )
        )
        .mappings()
        .first()
    )
    return CardRow.from_mapping(row) if row is not None else None


def lock_card_by_number_hashes(unit: UnitOfWork, digests: Sequence[str]) -> CardRow | None:
    """The merchant's card whose number has one of these hashes, its row locked; or None."""
    row = unit.lock_where(gift_cards, gift_cards.c.number_hash.in_(digests))
    return CardRow.from_mapping(row) if row is not None else None


def card_by_page_token_hash(connection: Connection, digest: str) -> CardRow | None:
    """An e-card by the hash of its page's token (of whichever merchant issued it)."""
    found = lookups.find(connection, LookupKind.ECARD_PAGE, digest)
    if found is None:
        return None
    return card(connection, found[0], found[1])


def stored_answer(
    connection: Connection, merchant_id: uuid.UUID, key: str
) -> tuple[str, Mapping[str, Any] | None] | None:
    """The operation and the stored answer of the merchant's request with this key, if any."""
    row = connection.execute(
        select(idempotency_records.c.operation, idempotency_records.c.answer).where(
            idempotency_records.c.merchant_id == merchant_id, idempotency_records.c.key == key
        )
    ).first()
    return None if row is None else (row.operation, row.answer)


def release_idempotency_key(connection: Connection, merchant_id: uuid.UUID, key: str) -> None:
    """Delete the key this transaction claimed: it commits as if it had claimed none."""
    connection.execute(
        delete(idempotency_records).where(
            idempotency_records.c.merchant_id == merchant_id, idempotency_records.c.key == key
        )
    )


def number_hash_taken(
    connection: Connection, merchant_id: uuid.UUID, digests: Sequence[str]
) -> bool:
    """Whether a card of the merchant has the number of these hashes (one per key)."""
    return (
        connection.execute(
            select(literal(1)).where(
                gift_cards.c.merchant_id == merchant_id, gift_cards.c.number_hash.in_(digests)
            )
        ).first()
        is not None
    )


def rehash_number(connection: Connection, card: CardRow, digest: str, key_id: str) -> None:
    """Store the card's number hash under another key; a parallel re-hash changes nothing."""
    connection.execute(
        update(gift_cards)
        .where(
            gift_cards.c.merchant_id == card.merchant_id,
            gift_cards.c.id == card.id,
            gift_cards.c.number_hash == card.number_hash,
        )
        .values(number_hash=digest, number_key_id=key_id)
    )


def number_key_counts(connection: Connection) -> dict[str | None, int]:
    """Cards that are not closed, of every merchant, per key id of their number's hash."""
    rows = connection.execute(
        select(gift_cards.c.number_key_id, func.count())
        .where(gift_cards.c.state != "closed")
        .group_by(gift_cards.c.number_key_id)
    ).all()
    return {identity: int(count) for identity, count in rows}


def rehash_pin(connection: Connection, card: CardRow, digest: str, key_id: str) -> None:
    """Store the card's PIN hash under another key (the card is locked by the caller)."""
    connection.execute(
        update(gift_cards)
        .where(gift_cards.c.merchant_id == card.merchant_id, gift_cards.c.id == card.id)
        .values(pin_hash=digest, pin_key_id=key_id)
    )


def pin_key_counts(connection: Connection) -> dict[str | None, int]:
    """Cards with a PIN that are not closed, of every merchant, per key id of the PIN's hash."""
    rows = connection.execute(
        select(gift_cards.c.pin_key_id, func.count())
        .where(gift_cards.c.state != "closed", gift_cards.c.pin_hash.is_not(None))
        .group_by(gift_cards.c.pin_key_id)
    ).all()
    return {identity: int(count) for identity, count in rows}


def insert_card(connection: Connection, values: Mapping[str, Any]) -> None:
    connection.execute(insert(gift_cards).values(**values))


def update_card(connection: Connection, card: CardRow, changes: Mapping[str, Any]) -> None:
    if changes:
        connection.execute(
            update(gift_cards)
            .where(gift_cards.c.merchant_id == card.merchant_id, gift_cards.c.id == card.id)
            .values(**changes)
        )


def cards(
    connection: Connection,
    merchant_id: uuid.UUID,
    *,
    program_id: uuid.UUID | None,
    state: str | None,
    membership_id: uuid.UUID | None,
    page: PageRequest,
) -> Page[CardRow]:
    """A page of the merchant's cards, newest first, filtered as asked."""
    query = select(gift_cards).where(gift_cards.c.merchant_id == merchant_id)
    if program_id is not None:
        query = query.where(gift_cards.c.program_id == program_id)
    if state is not None:
        query = query.where(gift_cards.c.state == state)
    if membership_id is not None:
        query = query.where(gift_cards.c.membership_id == membership_id)
    order = Order("gift_cards", (gift_cards.c.created_at, gift_cards.c.id), descending=True)
    return fetch_page(connection, query, order, page).map(CardRow.from_mapping)


def cards_by_last4(
    connection: Connection, merchant_id: uuid.UUID, last4: str, limit: int
) -> list[CardRow]:
    rows = connection.execute(
        select(gift_cards)
        .where(gift_cards.c.merchant_id == merchant_id, gift_cards.c.number_last4 == last4)
        .order_by(gift_cards.c.created_at.desc(), gift_cards.c.id)
        .limit(limit)
    ).mappings()
    return [CardRow.from_mapping(row) for row in rows]


def registered_cards(
    connection: Connection, merchant_id: uuid.UUID, membership_id: uuid.UUID
) -> list[CardRow]:
    """The cards registered to one membership, in the order they were registered."""
    rows = connection.execute(
        select(gift_cards)
        .where(
            gift_cards.c.merchant_id == merchant_id,
            gift_cards.c.membership_id == membership_id,
        )
        .order_by(gift_cards.c.registered_at)
    ).mappings()
    return [CardRow.from_mapping(row) for row in rows]


def card_of_memberships(
    connection: Connection, card_id: uuid.UUID, memberships: Sequence[Mapping[str, Any]]
) -> CardRow | None:
    """The card, if it is registered to one of these memberships (of one identity)."""
    row = (
        connection.execute(
            select(gift_cards).where(
                gift_cards.c.id == card_id,
                gift_cards.c.membership_id.in_([m["id"] for m in memberships]),
                gift_cards.c.merchant_id.in_([m["merchant_id"] for m in memberships]),
            )
        )
        .mappings()
        .first()
    )
    return CardRow.from_mapping(row) if row is not None else None


def profile_bonus_given(connection: Connection, program: Program, membership_id: uuid.UUID) -> bool:
    """Whether a card of this member in this program has had the profile bonus."""
    return (
        connection.execute(
            select(literal(1)).where(
                gift_cards.c.merchant_id == program.merchant_id,
                gift_cards.c.program_id == program.id,
                gift_cards.c.membership_id == membership_id,
                gift_cards.c.profile_bonus_at.isnot(None),
            )
        ).first()
        is not None
    )


def cards_due_to_expire(
    connection: Connection, now: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(merchant_id, card_id) of the open cards past their expiry, the oldest first."""
    rows = connection.execute(
        select(gift_cards.c.merchant_id, gift_cards.c.id)
        .where(gift_cards.c.state.in_(("active", "frozen")), gift_cards.c.expires_at <= now)
        .order_by(gift_cards.c.expires_at)
        .limit(limit)
    ).all()
    return [(merchant_id, card_id) for merchant_id, card_id in rows]


# The operation log ------------------------------------------------------------------


def operation(
    connection: Connection, merchant_id: uuid.UUID, operation_id: uuid.UUID
) -> OperationRow | None:
    row = (
        connection.execute(
            select(gift_card_operations).where(
                gift_card_operations.c.merchant_id == merchant_id,
                gift_card_operations.c.id == operation_id,
            )
        )
        .mappings()
        .first()
    )
    return OperationRow.from_mapping(row) if row is not None else None


def card_operations(
    connection: Connection, card: CardRow, *, limit: int | None = None
) -> list[OperationRow]:
    """The card's operations, newest first."""
    query = (
        select(gift_card_operations)
        .where(
            gift_card_operations.c.merchant_id == card.merchant_id,
            gift_card_operations.c.card_id == card.id,
        )
        .order_by(gift_card_operations.c.created_at.desc(), gift_card_operations.c.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [OperationRow.from_mapping(row) for row in connection.execute(query).mappings()]


def card_operations_page(
    connection: Connection, card: CardRow, page: PageRequest
) -> Page[OperationRow]:
    """A page of the card's operations, newest first."""
    query = select(gift_card_operations).where(
        gift_card_operations.c.merchant_id == card.merchant_id,
        gift_card_operations.c.card_id == card.id,
    )
    order = Order(
        "gift_card_operations",
        (gift_card_operations.c.created_at, gift_card_operations.c.id),
        descending=True,
    )
    return fetch_page(connection, query, order, page).map(OperationRow.from_mapping)


def operations_of_entry(
    connection: Connection, merchant_id: uuid.UUID, entry_id: uuid.UUID
) -> list[CardOperation]:
    """The operations logged with one journal entry (a balance transfer has two)."""
    rows = (
        connection.execute(
            select(gift_card_operations, gift_cards.c.number_last4, gift_card_programs.c.asset_code)
            .join(
                gift_cards,
                (gift_cards.c.merchant_id == gift_card_operations.c.merchant_id)
                & (gift_cards.c.id == gift_card_operations.c.card_id),
            )
            .join(
                gift_card_programs,
                (gift_card_programs.c.merchant_id == gift_card_operations.c.merchant_id)
                & (gift_card_programs.c.id == gift_card_operations.c.program_id),
            )
            .where(
                gift_card_operations.c.merchant_id == merchant_id,
                gift_card_operations.c.entry_id == entry_id,
            )
            .order_by(gift_card_operations.c.kind.desc())
        )
        .mappings()
        .all()
    )
    return [
        CardOperation.of(
            OperationRow.from_mapping(row), row["number_last4"], row["asset_code"], replayed=True
        )
        for row in rows
    ]


def day_activity(connection: Connection, card: CardRow, day: date) -> DayActivity:
    """What the card loaded and spent on this day (the merchant's local day)."""
    rows = connection.execute(
        select(
            gift_card_operations.c.kind,
            func.count(),
            func.coalesce(func.sum(gift_card_operations.c.amount_minor), 0),
        )
        .where(
            gift_card_operations.c.merchant_id == card.merchant_id,
            gift_card_operations.c.card_id == card.id,
            gift_card_operations.c.business_date == day,
            gift_card_operations.c.amount_minor > 0,
            gift_card_operations.c.kind.in_(rules.LOAD_KINDS + rules.SPEND_KINDS),
        )
        .group_by(gift_card_operations.c.kind)
    ).all()
    loads = [(int(n), int(total)) for kind, n, total in rows if kind in rules.LOAD_KINDS]
    spends = [(int(n), int(total)) for kind, n, total in rows if kind in rules.SPEND_KINDS]
    return DayActivity(
        loads=sum(n for n, _ in loads),
        loaded_minor=sum(t for _, t in loads),
        spends=sum(n for n, _ in spends),
        spent_minor=sum(t for _, t in spends),
    )


def refunded_minor(connection: Connection, spend: OperationRow) -> int:
    """What refunds of this spend or capture have given back so far."""
    return int(
        connection.execute(
            select(func.coalesce(func.sum(gift_card_operations.c.amount_minor), 0)).where(
                gift_card_operations.c.merchant_id == spend.merchant_id,
                gift_card_operations.c.kind == "refund",
                gift_card_operations.c.related_id == spend.id,
            )
        ).scalar_one()
    )


def open_holds(connection: Connection, card: CardRow) -> list[uuid.UUID]:
    """The ids of the holds on the card's account that are neither posted nor released.

    A read of the ledger's transfers (the ledger keeps no list of open holds).
    """
    resolution = transfers.alias("resolution")
    return list(
        connection.execute(
            select(transfers.c.id).where(
                transfers.c.merchant_id == card.merchant_id,
                transfers.c.debit_account_id == card.account_id,
                transfers.c.kind == "pending",
                ~select(literal(1))
                .where(
                    resolution.c.merchant_id == card.merchant_id,
                    resolution.c.pending_id == transfers.c.id,
                )
                .exists(),
            )
        ).scalars()
    )


# Look-ups ---------------------------------------------------------------------------


def insert_lookup(
    connection: Connection,
    merchant_id: uuid.UUID,
    *,
    terminal_id: uuid.UUID | None,
    store_id: uuid.UUID | None,
    digest: str,
    succeeded: bool,
    now: datetime,
) -> None:
    """A balance inquiry or a failed look-up, counted per terminal by the alerts."""
    connection.execute(
        insert(gift_card_lookups).values(
            merchant_id=merchant_id,
            id=uuid.uuid4(),
            terminal_id=terminal_id,
            store_id=store_id,
            number_hash=digest,
            succeeded=succeeded,
            created_at=now,
        )
    )

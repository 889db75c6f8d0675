"""Tenders and their plans: what a program would do, computed before anything is written.

A tender (a wallet, a gift card, a bonus code; later loyalty points, a coupon)
answers a use case — a payment, a load, a check — with a **plan**: the ledger
operations it needs and the changes to its own rows, computed inside the use
case's unit of work (its rows locked) but without writing. `commit_plans` then
posts the operations of every plan as **one journal entry** and applies their
row changes, in that unit of work: a check paid partly by gift card and partly
from the wallet is one entry, all of it or nothing.

Row changes name the journal entry by `unit.entry_id` and transfers by their
client-chosen ids, both known before the entry is posted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert, update

from cagnotte.db.unit_of_work import Idempotency, UnitOfWork
from cagnotte.ledger import EntryResult, Ledger, Operation


@dataclass(frozen=True, slots=True)
class RowInsert:
    """A new row of a tender's own table (the merchant_id is the unit's)."""

    table: Table
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """New values for one row of the merchant, by id (or by another unique column, `key`)."""

    table: Table
    row_id: uuid.UUID | bytes
    values: Mapping[str, Any]
    # A table keyed otherwise (a bonus code by its hash) names its key column.
    key: str = "id"


RowChange = RowInsert | RowUpdate


@dataclass(frozen=True, slots=True)
class Plan:
    """What one tender would do: ledger operations and row changes, nothing written yet."""

    tender: str
    operations: tuple[Operation, ...] = ()
    row_changes: tuple[RowChange, ...] = ()
    # What the tender moves, in the minor units of its asset (for the answer).
    amount: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)


def commit_plans(
    ledger: Ledger,
    unit: UnitOfWork,
    plans: Sequence[Plan],
    *,
    kind: str,
    memo: str | None = None,
    also_platform: bool = False,
) -> EntryResult | None:
    """Post the plans' operations as the unit's one journal entry, then apply their rows.

    No entry is posted when no plan moves value (an activation without a load);
    the row changes are applied all the same.
    """
    operations = [operation for plan in plans for operation in plan.operations]
    result = None
    if operations:
        result = ledger.post_entry(
            unit.merchant_id,
            operations,
            kind=kind,
            memo=memo,
            also_platform=also_platform,
            unit=unit,
        )
    _apply_all(unit, [change for plan in plans for change in plan.row_changes])
    return result


def _apply_all(unit: UnitOfWork, changes: Sequence[RowChange]) -> None:
    """Apply row changes in their order; consecutive inserts into one table go as one batch."""
    batch: list[RowInsert] = []
    for change in changes:
        if batch and not (isinstance(change, RowInsert) and change.table is batch[0].table):
            _insert_batch(unit, batch)
            batch = []
        if isinstance(change, RowInsert):
            batch.append(change)
        else:
            _apply(unit, change)
    if batch:
        _insert_batch(unit, batch)


def _insert_batch(unit: UnitOfWork, batch: Sequence[RowInsert]) -> None:
    # One executemany (psycopg sends it as one pipeline). Multi-row INSERT … VALUES
    # was tried and measured (bench/checks.py): at 10 000 rules, 80 effect rows a
    # check, it halved the checks per second (SQLAlchemy walks every bound value
    # of such a statement for its cache key).
    unit.connection.execute(
        insert(batch[0].table),
        [{"merchant_id": unit.merchant_id, **change.values} for change in batch],
    )


def commit_plan_alone(
    ledger: Ledger,
    merchant_id: uuid.UUID,
    plan: Plan,
    *,
    kind: str,
    idempotency: Idempotency,
) -> EntryResult:
    """Post a plan that only moves value as a journal entry of its own.

    The register's hot path: on PostgreSQL the entry, its Idempotency-Key and
    its answer are one statement (the ledger function claims the key), so a
    payment costs one round trip instead of a transaction's five. The answer
    and the replay are the same as through a unit of work.
    """
    assert not plan.row_changes, "a plan with rows of its own needs a unit of work"
    return ledger.post_entry(
        merchant_id,
        plan.operations,
        kind=kind,
        idempotency_key=idempotency.key,
        request_hash=idempotency.request_hash,
    )


async def commit_plan_alone_async(
    ledger: Ledger,
    merchant_id: uuid.UUID,
    plan: Plan,
    *,
    kind: str,
    idempotency: Idempotency,
) -> EntryResult:
    """commit_plan_alone awaited on the event loop (Ledger.post_entry_async)."""
    assert not plan.row_changes, "a plan with rows of its own needs a unit of work"
    return await ledger.post_entry_async(
        merchant_id,
        plan.operations,
        kind=kind,
        idempotency_key=idempotency.key,
        request_hash=idempotency.request_hash,
    )


def _apply(unit: UnitOfWork, change: RowChange) -> None:
    if isinstance(change, RowInsert):
        unit.connection.execute(
            insert(change.table).values(merchant_id=unit.merchant_id, **change.values)
        )
        return
    table = change.table
    updated = unit.connection.execute(
        update(table)
        .where(table.c.merchant_id == unit.merchant_id, table.c[change.key] == change.row_id)
        .values(**change.values)
    ).rowcount
    assert updated == 1, f"{table.name} {change.row_id}: the plan's row is gone"

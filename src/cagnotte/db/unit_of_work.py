"""The unit of work: the one database transaction a use case runs in.

A use case hands its work to `UnitsOfWork.run`. The unit of work opens the
transaction, claims the request's Idempotency-Key with a row of the merchant
(`idempotency_records`), lets the work lock the rows it needs (always in one
global order, `LOCK_ORDER`) and post at most one journal entry into it, stores
the work's answer with the key, and commits; or rolls all of it back. A retry
with the same key and request gets the stored answer, whether or not the first
request moved value; the same key with another request is refused.

Errors: idempotency_key_reused, and whatever the work raises (the transaction
is rolled back, nothing is stored). A deadlock or a serialisation failure runs
the work again from the start, at most ATTEMPTS_MAX times.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, RowMapping, Table, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError, OperationalError

from cagnotte import errors
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.tables import idempotency_records, invoice_numbers

T = TypeVar("T")

ATTEMPTS_MAX = 5
RETRY_PAUSE_MAX = timedelta(milliseconds=50)
# SQLSTATEs after which the whole transaction may simply run again.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure

# The global order in which a unit of work locks rows: by table in this order,
# then by id. Two units that lock the same rows therefore queue instead of
# deadlocking. The ledger's own rows (account balances, lots) come after all of
# these: the ledger locks them when the entry is posted, which is the last
# thing a unit of work does before it stores its answer.
LOCK_ORDER: tuple[str, ...] = (
    "merchants",
    "memberships",
    "bonus_campaigns",
    "bonus_codes",
    "bank_payments",
    "bonus_payouts",
    "gift_card_programs",
    "gift_card_batches",
    "gift_cards",
    "gift_card_operations",
    "loyalty_programs",
    "loyalty_rules",
    "checks",
    # The catalogue: a change of the category tree locks all of a merchant's
    # categories before any product (catalogue/service.py).
    "product_categories",
    "products",
)


@dataclass(frozen=True, slots=True)
class Idempotency:
    """The caller's Idempotency-Key and the hash of its request (method, path, body)."""

    key: str | None = None
    request_hash: str | None = None

    def derived(self, part: str) -> Idempotency:
        """The key of one part of a larger request (one card of a batch), or none."""
        if self.key is None:
            return self
        return Idempotency(f"{self.key}:{part}", self.request_hash)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What the first request with an Idempotency-Key answered."""

    operation: str
    # The use case's answer as it stored it; None for an entry posted with its
    # own key (its journal entry's result is the answer).
    answer: dict[str, Any] | None
    entry_id: uuid.UUID | None


def constraint_name(error: IntegrityError) -> str | None:
    """The constraint a PostgreSQL integrity error names (SQLite's name none)."""
    diagnostic = getattr(error.orig, "diag", None)
    return diagnostic.constraint_name if diagnostic is not None else None


class UnitOfWork:
    """One use case's transaction: its connection, its moment, its locks, its entry."""

    def __init__(self, connection: Connection, merchant_id: uuid.UUID, now: datetime) -> None:
        self.connection = connection
        self.merchant_id = merchant_id
        self.now = now
        # The id of the one journal entry the work may post (chosen now, so that
        # rows written beside the entry can name it).
        self.entry_id = uuid.uuid4()
        self.entry_posted = False
        self._lock_rank = -1

    @property
    def is_postgresql(self) -> bool:
        return self.connection.dialect.name == "postgresql"

    def lock(self, table: Table, row_id: uuid.UUID, *, missing: str | None = None) -> RowMapping:
        """The merchant's row of `table`, locked until the end; otherwise NotFound.

        Another merchant's row gets the same answer as no row at all.
        """
        rows = self.lock_many(table, [row_id])
        if not rows:
            raise errors.NotFound(missing)
        return rows[0]

    def lock_many(
        self, table: Table, row_ids: Iterable[uuid.UUID], *, keys_stay: bool = False
    ) -> list[RowMapping]:
        """The merchant's rows of `table` among these ids, locked in id order.

        With keys_stay the lock (FOR NO KEY UPDATE) still keeps every other writer
        of the rows waiting, but not the rows that reference them: a foreign key's
        check (FOR KEY SHARE) passes. For rows whose keys the work does not change.
        """
        self._check_lock_order(table)
        query = (
            select(table)
            .where(table.c.merchant_id == self.merchant_id, table.c.id.in_(sorted(set(row_ids))))
            .order_by(table.c.id)
        )
        # SQLite has one writer at a time: its write transaction is the lock.
        if self.is_postgresql:
            query = query.with_for_update(key_share=keys_stay)
        return list(self.connection.execute(query).mappings().all())

    def lock_where(self, table: Table, *conditions: Any) -> RowMapping | None:
        """The merchant's one row of `table` meeting `conditions`, locked; None if there is none.

        A row found by another unique key than its id (a card by its number's
        hash) is looked up and locked by one statement, in its table's place of
        LOCK_ORDER.
        """
        self._check_lock_order(table)
        query = select(table).where(table.c.merchant_id == self.merchant_id, *conditions)
        if self.is_postgresql:
            query = query.with_for_update()
        return self.connection.execute(query).mappings().first()

    def _check_lock_order(self, table: Table) -> None:
        assert table.name in LOCK_ORDER, f"{table.name} has no place in LOCK_ORDER"
        rank = LOCK_ORDER.index(table.name)
        assert rank >= self._lock_rank, (
            f"{table.name} locked after {LOCK_ORDER[self._lock_rank]}: against LOCK_ORDER"
        )
        self._lock_rank = rank

    def claim_invoice_number(self, number: str, used_by: str, used_by_id: uuid.UUID) -> None:
        """Use a POS invoice number once per merchant; invoice_reused if it served already."""
        if not self.try_claim_invoice_number(number, used_by, used_by_id):
            raise errors.InvoiceReused()

    def try_claim_invoice_number(self, number: str, used_by: str, used_by_id: uuid.UUID) -> bool:
        """Claim a POS invoice number for this unit's work; False if it served already.

        One record for checks and gift card operations alike. The claim is the
        check: an INSERT that does nothing when the number is taken, so two
        registers sending one number at once cannot both have it (on PostgreSQL
        the second waits for the first to commit or roll back).
        """
        insert = pg_dialect.insert if self.is_postgresql else sqlite_dialect.insert
        claimed = self.connection.execute(
            insert(invoice_numbers)
            .values(
                merchant_id=self.merchant_id,
                number=number,
                used_by=used_by,
                used_by_id=used_by_id,
                created_at=self.now,
            )
            .on_conflict_do_nothing()
            .returning(invoice_numbers.c.number)
        ).first()
        return claimed is not None

    def acting_for(self, merchant_id: uuid.UUID) -> UnitOfWork:
        """This unit's transaction on a merchant's behalf (an operator's use case).

        The operator's Idempotency-Key stays among the operator's own, while the
        rows locked and the entry posted through the returned unit are the
        merchant's. Both share the transaction, its moment, the entry id, the
        lock order reached so far. Post the
        entry through one of them only: the key's record names no entry then,
        so such a use case stores its answer (`encode`).
        """
        other = UnitOfWork(self.connection, merchant_id, self.now)
        other.entry_id = self.entry_id
        other._lock_rank = self._lock_rank
        return other


class UnitsOfWork:
    """Opens units of work on one database (the composition root makes one)."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    def run(
        self,
        merchant_id: uuid.UUID,
        operation: str,
        work: Callable[[UnitOfWork], T],
        *,
        idempotency: Idempotency = Idempotency(),
        encode: Callable[[T], Mapping[str, Any]] | None = None,
        replay: Callable[[UnitOfWork, StoredAnswer], T] | None = None,
    ) -> T:
        """Run `work` in one transaction; with a key, store its answer or replay it.

        `encode` turns the answer into JSON to store; without it, the work's
        journal entry's result is the answer (as for an entry posted with its own
        key). `replay` turns a stored answer back into the use case's answer
        (read in the retry's own transaction); it is needed when the request has
        a key.
        """
        assert idempotency.key is None or replay is not None
        attempt = 1
        while True:
            try:
                with self.database.transaction() as connection:
                    unit = UnitOfWork(connection, merchant_id, self.clock.now())
                    stored = self._claim(unit, operation, idempotency)
                    if stored is not None:
                        assert replay is not None
                        return replay(unit, stored)
                    answer = work(unit)
                    if idempotency.key is not None:
                        assert encode is not None or unit.entry_posted, "nothing to replay"
                        self._store(unit, idempotency, dict(encode(answer)) if encode else None)
                break
            except OperationalError as error:
                sqlstate = getattr(error.orig, "sqlstate", None)
                if sqlstate not in _RETRYABLE_SQLSTATES or attempt == ATTEMPTS_MAX:
                    raise
                # A random pause, so that the units of the cycle do not meet again
                # in the same order.
                time.sleep(random.uniform(0, RETRY_PAUSE_MAX.total_seconds()))
                attempt += 1
        return answer

    def replay_if_stored(
        self,
        merchant_id: uuid.UUID,
        idempotency: Idempotency,
        replay: Callable[[UnitOfWork, StoredAnswer], T],
    ) -> T | None:
        """The stored answer of an earlier request with this key, read without a write lock.

        For use cases that do slow or counted work before their unit of work (a
        PIN check): a plain retry answers at once. `run` still decides.
        """
        if idempotency.key is None:
            return None
        with self.database.read() as connection:
            unit = UnitOfWork(connection, merchant_id, self.clock.now())
            row = connection.execute(
                select(idempotency_records).where(
                    idempotency_records.c.merchant_id == merchant_id,
                    idempotency_records.c.key == idempotency.key,
                )
            ).first()
            if row is None:
                return None
            if row.request_hash != idempotency.request_hash:
                raise errors.IdempotencyKeyReused()
            return replay(unit, StoredAnswer(row.operation, row.answer, row.entry_id))

    def _claim(
        self, unit: UnitOfWork, operation: str, idempotency: Idempotency
    ) -> StoredAnswer | None:
        """Claim the key (None), or the answer of the request that claimed it first.

        On PostgreSQL a concurrent request with the same key waits on the row's
        primary key until the first one ends: it replays the first one's answer
        if that committed, and claims the key itself if it rolled back. SQLite has
        one writer at a time, so nobody else holds the key meanwhile.
        """
        if idempotency.key is None:
            return None
        insert = pg_dialect.insert if unit.is_postgresql else sqlite_dialect.insert
        claimed = unit.connection.execute(
            insert(idempotency_records)
            .values(
                merchant_id=unit.merchant_id,
                key=idempotency.key,
                operation=operation,
                request_hash=idempotency.request_hash,
                created_at=unit.now,
            )
            .on_conflict_do_nothing()
            .returning(idempotency_records.c.key)
        ).first()
        if claimed is not None:
            return None
        row = unit.connection.execute(
            select(idempotency_records).where(
                idempotency_records.c.merchant_id == unit.merchant_id,
                idempotency_records.c.key == idempotency.key,
            )
        ).one()
        if row.request_hash != idempotency.request_hash:
            raise errors.IdempotencyKeyReused()
        return StoredAnswer(operation=row.operation, answer=row.answer, entry_id=row.entry_id)

    @staticmethod
    def _store(unit: UnitOfWork, idempotency: Idempotency, answer: dict[str, Any] | None) -> None:
        unit.connection.execute(
            update(idempotency_records)
            .where(
                idempotency_records.c.merchant_id == unit.merchant_id,
                idempotency_records.c.key == idempotency.key,
            )
            .values(answer=answer, entry_id=unit.entry_id if unit.entry_posted else None)
        )

"""The ledger's use cases: accounts, journal entries, balances, history, expiry.

Errors raised by post_entry, in order of precedence (the same on both databases:
tests/ledger/test_error_precedence.py). The entry's idempotency key comes first:
idempotency_key_reused (the same key and request replay the first result,
whatever the operations would do now). Then the operations, in the order given:
the first that fails decides. Within one operation:

- transfer, hold: same_account, account_not_found, asset_mismatch,
  account_frozen; then the debit side: insufficient_funds, then amount_overflow;
  then the credit side: limit_exceeded, then amount_overflow; last
  transfer_exists.
- post, void, expire (a hold): pending_transfer_not_found, account_not_found,
  pending_transfer_expired (or invalid_input: expiring a hold before its time),
  pending_amount_exceeded, transfer_exists, pending_transfer_already_resolved,
  amount_overflow.
- reverse: transfer_not_found, reversal_exceeds_transfer, then those of a
  transfer from the credited account back to the debited one, from
  account_not_found on.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
import psycopg
from sqlalchemy import Connection, bindparam, func, literal, select, text, union_all, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from cagnotte import errors, metrics
from cagnotte.clock import Clock
from cagnotte.db.engine import Database
from cagnotte.db.pages import FIRST_PAGE, Order, Page, PageRequest, decode_cursor, page_of_rows
from cagnotte.db.tables import account_balances, accounts, journal_entries, lots, transfers
from cagnotte.db.unit_of_work import StoredAnswer, UnitOfWork, constraint_name
from cagnotte.ledger.batcher import EntryBatcher, entry_json
from cagnotte.ledger.model import (
    Account,
    AccountSpec,
    Balance,
    EntryResult,
    Expire,
    Operation,
    Transfer,
    TransferRecord,
    operation_as_json,
)
from cagnotte.ledger.sqlite_backend import SqliteLedgerWriter
from cagnotte.ledger.sqlite_batcher import PendingEntry, SqliteEntryBatcher

# The name of a transfer history in its cursors (db/pages.py).
HISTORY_ORDER = "transfers"
# The widths of idempotency_records.key and .request_hash (a SHA-256 in hex).
IDEMPOTENCY_KEY_LENGTH_MAX = 200
REQUEST_HASH_LENGTH_MAX = 64
_POST_ENTRY = text(
    "SELECT cagnotte_post_entry(:merchant_id, :entry_id, :kind, :idempotency_key,"
    " :request_hash, :memo, :now, CAST(:allowed AS uuid[]), CAST(:operations AS jsonb))"
)
# The same call for psycopg itself (post_entry_async).
_POST_ENTRY_PSYCOPG = (
    "SELECT cagnotte_post_entry(%(merchant_id)s, %(entry_id)s, %(kind)s,"
    " %(idempotency_key)s, %(request_hash)s, %(memo)s, %(now)s, %(allowed)s::uuid[],"
    " %(operations)s::jsonb)"
)


# How often an entry in a transaction of its own is tried (a lost race, a deadlock),
# and the longest pause before trying again after a deadlock.
ENTRY_ATTEMPTS_MAX = 5
DEADLOCK_RETRY_PAUSE_MAX = timedelta(milliseconds=50)


# Built once (the register reads a balance per program on every check): SQLAlchemy
# then skips building the statement and its cache key.
_BALANCE = select(
    func.coalesce(func.sum(account_balances.c.debits_posted), 0),
    func.coalesce(func.sum(account_balances.c.credits_posted), 0),
    func.coalesce(func.sum(account_balances.c.debits_pending), 0),
    func.coalesce(func.sum(account_balances.c.credits_pending), 0),
).where(
    account_balances.c.merchant_id == bindparam("merchant_id"),
    account_balances.c.account_id == bindparam("account_id"),
)


class Ledger:
    """Accounts and journal entries over one Database."""

    def __init__(self, database: Database, clock: Clock, *, group_commit: bool = False) -> None:
        self.database = database
        self.clock = clock
        # Whether post_entry_async gathers the entries that arrive together into
        # one statement and one commit (PostgreSQL; see ledger/batcher.py).
        self.group_commit = group_commit
        # One batcher per event loop, opened by the application's lifespan.
        self._batchers: dict[asyncio.AbstractEventLoop, EntryBatcher] = {}
        # On SQLite one writer per event loop (ledger/sqlite_batcher.py), likewise.
        self._sqlite_batchers: dict[asyncio.AbstractEventLoop, SqliteEntryBatcher] = {}
        self._accounts: dict[tuple[Any, ...], Account] = {}
        self._accounts_lock = threading.Lock()

    # Accounts ---------------------------------------------------------------

    def open_account(
        self, merchant_id: uuid.UUID, spec: AccountSpec, connection: Connection | None = None
    ) -> Account:
        """The account for (merchant, owner, purpose, asset), opened on first use."""
        cached = self.cached_account(merchant_id, spec)
        if cached is not None:
            return cached
        if connection is not None:
            # The caller's transaction may still roll back: remember nothing yet.
            return self._open_account(connection, merchant_id, spec)
        with self.database.transaction() as own_connection:
            account = self._open_account(own_connection, merchant_id, spec)
        with self._accounts_lock:
            self._accounts[_account_key(merchant_id, spec)] = account
        return account

    def cached_account(self, merchant_id: uuid.UUID, spec: AccountSpec) -> Account | None:
        """The account open_account would return, if it is known without a query."""
        return self._accounts.get(_account_key(merchant_id, spec))

    def _open_account(
        self, connection: Connection, merchant_id: uuid.UUID, spec: AccountSpec
    ) -> Account:
        insert = pg_dialect.insert if self.database.is_postgresql else sqlite_dialect.insert
        account_id = uuid.uuid4()
        created = connection.execute(
            insert(accounts)
            .values(
                merchant_id=merchant_id,
                id=account_id,
                asset_code=spec.asset_code,
                owner_type=spec.owner_type,
                owner_id=spec.owner_id,
                purpose=spec.purpose,
                debits_must_not_exceed_credits=spec.debits_must_not_exceed_credits,
                credits_must_not_exceed_debits=spec.credits_must_not_exceed_debits,
                uses_lots=spec.uses_lots,
                balance_shards=spec.balance_shards,
                frozen=False,
                created_at=self.clock.now(),
            )
            .on_conflict_do_nothing()
            .returning(accounts.c.id)
        ).first()
        if created is not None:
            connection.execute(
                account_balances.insert(),
                [
                    {
                        "merchant_id": merchant_id,
                        "account_id": account_id,
                        "shard": shard,
                        "debits_must_not_exceed_credits": spec.debits_must_not_exceed_credits,
                        "credits_must_not_exceed_debits": spec.credits_must_not_exceed_debits,
                    }
                    for shard in range(spec.balance_shards)
                ],
            )
        row = connection.execute(
            select(accounts).where(
                accounts.c.merchant_id == merchant_id,
                accounts.c.owner_type == spec.owner_type,
                accounts.c.owner_id == spec.owner_id,
                accounts.c.purpose == spec.purpose,
                accounts.c.asset_code == spec.asset_code,
            )
        ).one()
        return _account(row)

    def get_account(
        self, merchant_id: uuid.UUID, account_id: uuid.UUID, connection: Connection | None = None
    ) -> Account:
        """An account of this merchant; another merchant's is not found."""
        query = select(accounts).where(
            accounts.c.merchant_id == merchant_id, accounts.c.id == account_id
        )
        if connection is not None:
            row = connection.execute(query).first()
        else:
            with self.database.read() as own_connection:
                row = own_connection.execute(query).first()
        if row is None:
            raise errors.AccountNotFound()
        return _account(row)

    def find_accounts(
        self, merchant_id: uuid.UUID, owner_type: str, owner_id: uuid.UUID
    ) -> list[Account]:
        with self.database.read() as connection:
            rows = connection.execute(
                select(accounts)
                .where(
                    accounts.c.merchant_id == merchant_id,
                    accounts.c.owner_type == owner_type,
                    accounts.c.owner_id == owner_id,
                )
                .order_by(accounts.c.purpose, accounts.c.asset_code)
            ).all()
        return [_account(row) for row in rows]

    def set_frozen(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        account_ids: Sequence[uuid.UUID],
        frozen: bool,
    ) -> None:
        """Freeze accounts (no transfer may touch them) or thaw them."""
        if not account_ids:
            return
        connection.execute(
            update(accounts)
            .where(accounts.c.merchant_id == merchant_id, accounts.c.id.in_(list(account_ids)))
            .values(frozen=frozen)
        )

    def balance(self, account: Account, connection: Connection | None = None) -> Balance:
        """The account's four counters, summed over its shards."""
        keys = {"merchant_id": account.merchant_id, "account_id": account.id}
        if connection is not None:
            row = connection.execute(_BALANCE, keys).one()
        else:
            with self.database.read() as own_connection:
                row = own_connection.execute(_BALANCE, keys).one()
        return Balance(*(int(value) for value in row))

    def expiring_lots(
        self, account: Account, now: datetime, limit: int, connection: Connection | None = None
    ) -> list[tuple[int, datetime]]:
        """What is left of the account's lots that end after `now`, soonest first (as the
        ledger spends them): (remaining, expires_at)."""
        query = (
            select(lots.c.remaining, lots.c.expires_at)
            .where(
                lots.c.merchant_id == account.merchant_id,
                lots.c.account_id == account.id,
                lots.c.expires_at.is_not(None),
                lots.c.expires_at > now,
                lots.c.remaining > 0,
            )
            .order_by(lots.c.expires_at)
            .limit(limit)
        )
        with nullcontext(connection) if connection is not None else self.database.read() as c:
            return [(int(row.remaining), row.expires_at) for row in c.execute(query)]

    # Journal entries ---------------------------------------------------------

    def post_entry(
        self,
        merchant_id: uuid.UUID,
        operations: Sequence[Operation],
        *,
        kind: str,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        memo: str | None = None,
        also_platform: bool = False,
        connection: Connection | None = None,
        unit: UnitOfWork | None = None,
    ) -> EntryResult:
        """Post the operations as one journal entry: all land or none.

        With an idempotency key, the same key and request hash replays the first
        result; another hash raises idempotency_key_reused. (A use case that runs
        in a unit of work claims its key there and passes none here.) Accounts
        must belong to the merchant (or, with also_platform, to the platform).
        In a unit of work the entry is the unit's one entry, with the id the unit
        chose; with a bare connection it joins the caller's transaction; with
        neither it is a transaction of its own.
        """
        arguments = _entry_arguments(
            merchant_id,
            operations,
            kind=kind,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            memo=memo,
            also_platform=also_platform,
        )
        if unit is not None:
            assert connection is None and not unit.entry_posted, "one entry per unit of work"
            assert unit.merchant_id == merchant_id
            # A refused entry fails the whole unit (its work raises, the unit rolls
            # back): no savepoint needed to keep the transaction usable after it.
            result = self._post_entry_in(
                unit.connection,
                in_callers_transaction=True,
                entry_id=unit.entry_id,
                savepoint=False,
                **arguments,
            )
            unit.entry_posted = True
            return result
        if connection is not None:
            return self._post_entry_in(
                connection, in_callers_transaction=True, entry_id=None, savepoint=True, **arguments
            )
        sqlite_batcher = self._sqlite_batcher()
        if sqlite_batcher is not None:
            landed = self._landed_in_sqlite_batch(
                sqlite_batcher.post(self._pending_entry(arguments)), arguments
            )
            if landed is not None:
                return landed
        attempt = 1
        while True:
            try:
                # On PostgreSQL the entry is one statement, its own transaction:
                # one round trip, without BEGIN and COMMIT.
                with self.database.single_statement() as own_connection:
                    return self._post_entry_in(
                        own_connection,
                        in_callers_transaction=False,
                        entry_id=None,
                        savepoint=False,
                        **arguments,
                    )
            except OperationalError as error:
                # Entries of several transfers may still lock rows in crossing
                # orders; PostgreSQL breaks the cycle by failing one, which was
                # rolled back whole and may simply run again.
                if not _is_deadlock(error) or attempt == ENTRY_ATTEMPTS_MAX:
                    raise
                # A random pause, so that the entries of the cycle do not meet
                # again in the same order.
                time.sleep(random.uniform(0, DEADLOCK_RETRY_PAUSE_MAX.total_seconds()))
                attempt += 1

    async def open_group_commit(self) -> None:
        """Give the running event loop its batcher (with group_commit on): on PostgreSQL
        one that sends batches of cagnotte_post_entries, on a SQLite file its writer."""
        loop = asyncio.get_running_loop()
        if not self.group_commit or loop in self._batchers or loop in self._sqlite_batchers:
            return
        if self.database.is_postgresql:
            self._batchers[loop] = EntryBatcher(self.database.conninfo)
        elif self.database.sqlite_path is not None:
            self._sqlite_batchers[loop] = SqliteEntryBatcher(
                self.database.connect_sqlite,
                busy_timeout_seconds=self.database.busy_timeout_seconds,
            )

    async def close_group_commit(self) -> None:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.pop(loop, None)
        if batcher is not None:
            await batcher.close()
        sqlite_batcher = self._sqlite_batchers.pop(loop, None)
        if sqlite_batcher is not None:
            await sqlite_batcher.close()

    def _sqlite_batcher(self) -> SqliteEntryBatcher | None:
        """The SQLite writer of the running event loop, or (from a thread) of any loop."""
        if not self._sqlite_batchers:
            return None
        try:
            return self._sqlite_batchers.get(asyncio.get_running_loop())
        except RuntimeError:
            return next(iter(self._sqlite_batchers.values()), None)

    def _pending_entry(self, arguments: dict[str, Any]) -> PendingEntry:
        return PendingEntry(
            merchant_id=arguments["merchant_id"],
            entry_id=uuid.uuid4(),
            now=self.clock.now(),
            allowed=arguments["allowed"],
            kind=arguments["kind"],
            idempotency_key=arguments["idempotency_key"],
            request_hash=arguments["request_hash"],
            memo=arguments["memo"],
            operations=arguments["operations"],
        )

    @staticmethod
    def _landed_in_sqlite_batch(
        result: dict[str, Any] | None, arguments: dict[str, Any]
    ) -> EntryResult | None:
        """The SQLite writer's answer as post_entry's; None: post the entry alone."""
        if result is None:
            return None
        landed = EntryResult.from_json(result)
        if not landed.replayed:
            metrics.count_entry(arguments["kind"], arguments["operations"])
        return landed

    async def post_entry_async(
        self,
        merchant_id: uuid.UUID,
        operations: Sequence[Operation],
        *,
        kind: str,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        memo: str | None = None,
        also_platform: bool = False,
    ) -> EntryResult:
        """post_entry in a transaction of its own, awaited from the event loop.

        On PostgreSQL, once the loop's connections are open, the entry is one
        awaited statement: no worker thread, no SQLAlchemy. Otherwise (SQLite,
        which has one writer at a time anyway, or no open pool) post_entry runs
        in a worker thread. Same rules, errors and retries either way.

        With the loop's batcher open (group commit), the entry goes in the next
        batch of cagnotte_post_entries instead, and is answered once that batch
        has committed; an entry of a batch that failed as a whole is posted alone.
        On SQLite, with the loop's writer open, the entry goes in its next batch,
        posted on the loop itself (ledger/sqlite_batcher.py).
        """
        sqlite_batcher = self._sqlite_batcher()
        if sqlite_batcher is not None:
            arguments = _entry_arguments(
                merchant_id,
                operations,
                kind=kind,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                memo=memo,
                also_platform=also_platform,
            )
            landed = self._landed_in_sqlite_batch(
                await sqlite_batcher.post_async(self._pending_entry(arguments)), arguments
            )
            if landed is not None:
                return landed
        if not self.database.has_async_pool():
            return await anyio.to_thread.run_sync(
                functools.partial(
                    self.post_entry,
                    merchant_id,
                    operations,
                    kind=kind,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                    memo=memo,
                    also_platform=also_platform,
                )
            )
        arguments = _entry_arguments(
            merchant_id,
            operations,
            kind=kind,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            memo=memo,
            also_platform=also_platform,
        )
        batcher = self._batchers.get(asyncio.get_running_loop())
        if batcher is not None:
            landed = await self._post_in_batch(batcher, arguments)
            if landed is not None:
                return landed
        attempt = 1
        while True:
            parameters = self._postgresql_parameters(**arguments)
            try:
                async with self.database.async_single_statement() as connection:
                    cursor = await connection.execute(_POST_ENTRY_PSYCOPG, parameters, prepare=True)
                    row = await cursor.fetchone()
            except psycopg.errors.UniqueViolation as error:
                raise _unique_violation_error(error.diag.constraint_name) or error from None
            except psycopg.errors.DeadlockDetected:
                # As in post_entry: the victim was rolled back whole; try again
                # after a random pause.
                if attempt == ENTRY_ATTEMPTS_MAX:
                    raise
                await asyncio.sleep(random.uniform(0, DEADLOCK_RETRY_PAUSE_MAX.total_seconds()))
                attempt += 1
                continue
            except psycopg.Error as error:
                raise _domain_error_from_psycopg(error) or error from None
            assert row is not None
            landed = EntryResult.from_json(row[0])
            if not landed.replayed:
                metrics.count_entry(kind, arguments["operations"])
            return landed

    async def _post_in_batch(
        self, batcher: EntryBatcher, arguments: dict[str, Any]
    ) -> EntryResult | None:
        """The entry posted with the next batch; None if it is to be posted alone."""
        answer = await batcher.post(entry_json(self._postgresql_parameters(**arguments)))
        if answer is None:
            return None
        if "error" in answer:
            refusal = answer["error"]
            error = (
                _unique_violation_error(refusal["constraint"])
                if refusal["sqlstate"] == "23505"
                else _domain_error_of(refusal["sqlstate"], refusal["message"], refusal["detail"])
            )
            if error is None:
                # Not a refusal we know (a bug): posted alone, it fails as it would
                # without the batcher. Its subtransaction was rolled back.
                return None
            raise error
        landed = EntryResult.from_json(answer["result"])
        if not landed.replayed:
            metrics.count_entry(arguments["kind"], arguments["operations"])
        return landed

    def _post_entry_in(
        self,
        connection: Connection,
        *,
        merchant_id: uuid.UUID,
        operations: list[Operation],
        kind: str,
        idempotency_key: str | None,
        request_hash: str | None,
        memo: str | None,
        allowed: tuple[uuid.UUID, ...],
        in_callers_transaction: bool,
        entry_id: uuid.UUID | None,
        savepoint: bool,
    ) -> EntryResult:
        entry_id = entry_id or uuid.uuid4()
        now = self.clock.now()
        try:
            if self.database.is_postgresql:
                # A refused entry aborts a PostgreSQL transaction; inside a caller's
                # transaction that goes on after a refusal, a savepoint keeps it
                # usable, as on SQLite. A transaction of our own, or a unit of work,
                # is rolled back anyway, so it goes without the two round trips.
                with connection.begin_nested() if savepoint else nullcontext():
                    result = self._post_on_postgresql(
                        connection,
                        self._postgresql_parameters(
                            merchant_id=merchant_id,
                            operations=operations,
                            kind=kind,
                            idempotency_key=idempotency_key,
                            request_hash=request_hash,
                            memo=memo,
                            allowed=allowed,
                            entry_id=entry_id,
                            now=now,
                        ),
                    )
            else:
                # A savepoint, so that a refused entry leaves the caller's transaction usable.
                with connection.begin_nested():
                    result = SqliteLedgerWriter(
                        _driver_connection(connection), merchant_id, entry_id, now, allowed
                    ).post_entry(
                        kind=kind,
                        idempotency_key=idempotency_key,
                        request_hash=request_hash,
                        memo=memo,
                        operations=operations,
                    )
        except IntegrityError as error:
            # Only PostgreSQL gets here (the SQLite writer checks before it writes),
            # and its error names the constraint.
            domain_error = _unique_violation_error(constraint_name(error))
            if domain_error is not None:
                raise domain_error from None
            raise
        landed = EntryResult.from_json(result)
        if landed.replayed:
            return landed
        if in_callers_transaction:
            metrics.count_entry_at_commit(connection, kind, operations)
        else:
            metrics.count_entry(kind, operations)
        return landed

    def _postgresql_parameters(
        self,
        *,
        merchant_id: uuid.UUID,
        operations: list[Operation],
        kind: str,
        idempotency_key: str | None,
        request_hash: str | None,
        memo: str | None,
        allowed: tuple[uuid.UUID, ...],
        entry_id: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The arguments of cagnotte_post_entry (a new entry id and moment unless given)."""
        return {
            "merchant_id": merchant_id,
            "entry_id": entry_id or uuid.uuid4(),
            "kind": kind,
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
            "memo": memo,
            "now": now or self.clock.now(),
            "allowed": [str(merchant) for merchant in allowed],
            "operations": json.dumps([operation_as_json(op) for op in operations]),
        }

    def _post_on_postgresql(
        self, connection: Connection, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            return connection.execute(_POST_ENTRY, parameters).scalar_one()
        except IntegrityError:
            raise
        except DBAPIError as error:
            domain_error = (
                _domain_error_from_psycopg(error.orig)
                if isinstance(error.orig, psycopg.Error)
                else None
            )
            raise domain_error or error from None

    # Reading -----------------------------------------------------------------

    def history(self, account: Account, page: PageRequest = FIRST_PAGE) -> Page[TransferRecord]:
        """The account's transfers, newest first, a page at a time."""
        columns = [
            transfers.c.id,
            transfers.c.kind,
            transfers.c.code,
            transfers.c.debit_account_id,
            transfers.c.credit_account_id,
            transfers.c.asset_code,
            transfers.c.amount,
            transfers.c.reference,
            transfers.c.expires_at,
            transfers.c.pending_id,
            transfers.c.reverses_id,
            transfers.c.created_at,
        ]
        newest_first = Order(
            HISTORY_ORDER, (transfers.c.created_at, transfers.c.id), descending=True
        )
        after = decode_cursor(page.cursor, newest_first) if page.cursor else None

        def side(column: Any) -> Any:
            # Each side pages on its own index (debit or credit account, then time).
            query = select(*columns).where(column == account.id)
            if after is not None:
                query = query.where(newest_first.after(after))
            return query.order_by(*newest_first.clauses()).limit(page.limit + 1)

        both = union_all(
            side(transfers.c.debit_account_id).subquery().select(),
            side(transfers.c.credit_account_id).subquery().select(),
        ).subquery()
        order = Order(HISTORY_ORDER, (both.c.created_at, both.c.id), descending=True)
        query = select(both).order_by(*order.clauses()).limit(page.limit + 1)
        with self.database.read() as connection:
            rows = connection.execute(query).mappings().all()
        records = [TransferRecord.from_mapping(row) for row in rows]
        return page_of_rows(records, order, page, key=lambda r: (r.created_at, r.id))

    def entry_result(self, merchant_id: uuid.UUID, entry_id: uuid.UUID) -> EntryResult:
        with self.database.read() as connection:
            row = connection.execute(
                select(journal_entries.c.result).where(
                    journal_entries.c.merchant_id == merchant_id,
                    journal_entries.c.id == entry_id,
                )
            ).first()
        if row is None:
            raise errors.NotFound()
        return EntryResult.from_json(row.result)

    def replayed_entry(self, unit: UnitOfWork, stored: StoredAnswer) -> EntryResult:
        """The answer of a unit of work whose answer is its journal entry's result."""
        if stored.answer is not None:
            return EntryResult.from_json({**stored.answer, "replayed": True})
        assert stored.entry_id is not None
        result = unit.connection.execute(
            select(journal_entries.c.result).where(
                journal_entries.c.merchant_id == unit.merchant_id,
                journal_entries.c.id == stored.entry_id,
            )
        ).scalar_one()
        return EntryResult.from_json({**result, "replayed": True})

    def get_transfer(self, merchant_id: uuid.UUID, transfer_id: uuid.UUID) -> TransferRecord:
        with self.database.read() as connection:
            return self.transfer_in(connection, merchant_id, transfer_id)

    def transfer_in(
        self, connection: Connection, merchant_id: uuid.UUID, transfer_id: uuid.UUID
    ) -> TransferRecord:
        """A transfer of the merchant, read in the caller's transaction."""
        row = (
            connection.execute(
                select(transfers).where(
                    transfers.c.merchant_id == merchant_id, transfers.c.id == transfer_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.TransferNotFound()
        return TransferRecord.from_mapping(row)

    # Expiry jobs ---------------------------------------------------------------

    def expire_holds(self, batch_size: int = 500) -> int:
        """Release holds whose time has run out; returns how many."""
        now = self.clock.now()
        resolution = transfers.alias("resolution")
        query = (
            select(transfers.c.merchant_id, transfers.c.id)
            .where(
                transfers.c.kind == "pending",
                transfers.c.expires_at <= now,
                ~select(literal(1))
                .where(
                    resolution.c.merchant_id == transfers.c.merchant_id,
                    resolution.c.pending_id == transfers.c.id,
                )
                .exists(),
            )
            .order_by(transfers.c.expires_at)
            .limit(batch_size)
        )
        with self.database.read() as connection:
            due = connection.execute(query).all()
        expired = 0
        for merchant_id, pending_id in due:
            try:
                self.post_entry(merchant_id, [Expire(pending_id)], kind="hold_expiry")
                expired += 1
            except errors.PendingTransferAlreadyResolved:
                continue
        return expired

    def expire_lots(self, batch_size: int = 500) -> int:
        """Move what is left of expired lots to the merchant's breakage account.

        A hold on the account takes the soonest-expiring lots when it is posted,
        so the part of the expired lots it reserves stays until the hold ends; a
        later run takes it if the hold is voided or lapses. Frozen accounts wait.
        Returns how many lots gave up value.
        """
        now = self.clock.now()
        pending = (
            select(func.coalesce(func.sum(account_balances.c.debits_pending), 0))
            .where(
                account_balances.c.merchant_id == lots.c.merchant_id,
                account_balances.c.account_id == lots.c.account_id,
            )
            .scalar_subquery()
        )
        query = (
            select(lots.c.merchant_id, lots.c.account_id, accounts.c.asset_code)
            .join(
                accounts,
                (accounts.c.merchant_id == lots.c.merchant_id)
                & (accounts.c.id == lots.c.account_id),
            )
            .where(lots.c.remaining > 0, lots.c.expires_at <= now, ~accounts.c.frozen)
            .group_by(lots.c.merchant_id, lots.c.account_id, accounts.c.asset_code)
            # An account whose expired value is all reserved by holds is not due.
            .having(func.sum(lots.c.remaining) > pending)
            .order_by(func.min(lots.c.expires_at), lots.c.account_id)
            .limit(batch_size)
        )
        with self.database.read() as connection:
            due = connection.execute(query).all()
        expired = 0
        for merchant_id, account_id, asset_code in due:
            # Opened in a transaction of its own, so the account cache never holds
            # an account whose transaction was rolled back.
            breakage = self.open_account(
                merchant_id,
                AccountSpec(
                    asset_code=asset_code,
                    owner_type="merchant",
                    owner_id=merchant_id,
                    purpose="breakage",
                ),
            )
            with self.database.transaction() as connection:
                expired += self._expire_lots_of(connection, merchant_id, account_id, breakage, now)
        return expired

    def _expire_lots_of(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        account_id: uuid.UUID,
        breakage: Account,
        now: datetime,
    ) -> int:
        """Break the unreserved rest of one account's expired lots, in one entry."""
        # The breakage account's rows too, in the order transfers lock rows in.
        counters = (
            select(account_balances)
            .where(
                account_balances.c.merchant_id == merchant_id,
                account_balances.c.account_id.in_((account_id, breakage.id)),
            )
            .order_by(account_balances.c.account_id, account_balances.c.shard)
        )
        expired_lots = (
            select(lots.c.id, lots.c.remaining)
            .where(
                lots.c.merchant_id == merchant_id,
                lots.c.account_id == account_id,
                lots.c.remaining > 0,
                lots.c.expires_at <= now,
            )
            # The order in which spending consumes them: a hold reserves the first.
            .order_by(lots.c.expires_at, lots.c.created_at, lots.c.id)
        )
        if self.database.is_postgresql:
            # Balance rows before lots: the order a transfer locks them in.
            counters = counters.with_for_update()
            expired_lots = expired_lots.with_for_update()
        rows = [row for row in connection.execute(counters) if row.account_id == account_id]
        reserved = sum(row.debits_pending for row in rows)
        breakable = max(
            sum(row.credits_posted - row.debits_posted - row.debits_pending for row in rows), 0
        )
        operations = []
        for lot in connection.execute(expired_lots).all():
            held = min(lot.remaining, reserved)
            reserved -= held
            amount = min(lot.remaining - held, breakable)
            breakable -= amount
            if amount > 0:
                operations.append(
                    Transfer(account_id, breakage.id, amount, "lot_expired", reference=str(lot.id))
                )
        if operations:
            self.post_entry(merchant_id, operations, kind="lot_expiry", connection=connection)
        return len(operations)


def _account_key(merchant_id: uuid.UUID, spec: AccountSpec) -> tuple[Any, ...]:
    return (merchant_id, spec.owner_type, spec.owner_id, spec.purpose, spec.asset_code)


def _account(row: Any) -> Account:
    return Account(
        merchant_id=row.merchant_id,
        id=row.id,
        asset_code=row.asset_code,
        owner_type=row.owner_type,
        owner_id=row.owner_id,
        purpose=row.purpose,
        debits_must_not_exceed_credits=row.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=row.credits_must_not_exceed_debits,
        uses_lots=row.uses_lots,
        balance_shards=row.balance_shards,
        frozen=row.frozen,
        created_at=row.created_at,
    )


def _driver_connection(connection: Connection) -> Any:
    """The sqlite3 connection under a SQLAlchemy one: its statements join its transaction."""
    return connection.connection.driver_connection


def _is_deadlock(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "40P01"


def _entry_arguments(
    merchant_id: uuid.UUID,
    operations: Sequence[Operation],
    *,
    kind: str,
    idempotency_key: str | None,
    request_hash: str | None,
    memo: str | None,
    also_platform: bool,
) -> dict[str, Any]:
    """post_entry's arguments, checked, with the merchants whose accounts it may touch."""
    assert operations, "a journal entry moves something"
    # SQLite would store a longer value; PostgreSQL would refuse it.
    assert idempotency_key is None or len(idempotency_key) <= IDEMPOTENCY_KEY_LENGTH_MAX
    assert request_hash is None or len(request_hash) <= REQUEST_HASH_LENGTH_MAX
    from cagnotte.db.tables import PLATFORM_MERCHANT_ID

    allowed = (merchant_id, PLATFORM_MERCHANT_ID) if also_platform else (merchant_id,)
    return dict(
        merchant_id=merchant_id,
        operations=list(operations),
        kind=kind,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        memo=memo,
        allowed=allowed,
    )


def _unique_violation_error(constraint: str | None) -> Exception | None:
    """What a broken unique constraint means to the caller (None: a bug, let it crash)."""
    if constraint == "uq_transfers_pending_id":
        return errors.PendingTransferAlreadyResolved()
    if constraint == "pk_transfers":
        return errors.TransferExists()
    return None


def _domain_error_from_psycopg(error: psycopg.Error) -> Exception | None:
    """The domain error cagnotte_post_entry raised (its code is the message), if any."""
    return _domain_error_of(error.sqlstate, error.diag.message_primary, error.diag.message_detail)


def _domain_error_of(
    sqlstate: str | None, message: str | None, detail: str | None
) -> Exception | None:
    """The domain error a ledger function's error stands for (by SQLSTATE and code)."""
    if sqlstate == "P0001":
        code = message or ""
        domain_error = errors.error_for_code(code)
        if domain_error is not None:
            return domain_error(detail) if code == "invalid_input" else (domain_error())
    if sqlstate == "22003":
        return errors.AmountOverflow()
    return None

"""The ledger's write path carried out from Python, for SQLite.

It follows cagnotte/db/migrations/versions/0001_postgres_ledger.sql step by
step; SQLite has one writer at a time (the transaction began with BEGIN
IMMEDIATE), so no row locks are needed, but the balance limits are still
checked by the UPDATE that changes them. The same ledger tests run against
both implementations.

It speaks to the standard library's sqlite3 connection directly, with constant
statements (which the driver keeps prepared, `cached_statements`), values in
the columns' stored forms (a UUID as 32 hex digits, a moment as naive UTC text,
JSON as text: what SQLAlchemy's types store, db/types.py) and no SQLAlchemy on
the way: measured (bench/sqlite_payments.py), compiling and binding Core
statements were most of a payment's CPU on SQLite. Inside a unit of work or a
caller's transaction it is handed the DBAPI connection of the caller's
SQLAlchemy connection, so its statements are that transaction's; the group
commit writer (ledger/sqlite_batcher.py) hands it its own.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cagnotte import errors
from cagnotte.ledger.model import (
    Expire,
    Hold,
    Operation,
    PostHold,
    Reverse,
    Transfer,
    VoidHold,
)
from cagnotte.money import AMOUNT_MINOR_MAX

_COUNTERS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")

_IDEMPOTENCY_RECORD = (
    "SELECT request_hash, entry_id, answer FROM idempotency_records"
    " WHERE merchant_id = ? AND key = ?"
)
_CLAIM_KEY = (
    "INSERT INTO idempotency_records"
    " (merchant_id, key, operation, request_hash, entry_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_ENTRY_RESULT = "SELECT result FROM journal_entries WHERE merchant_id = ? AND id = ?"
_INSERT_ENTRY = (
    "INSERT INTO journal_entries"
    " (merchant_id, id, idempotency_key, request_hash, kind, memo, result, created_at)"
    " VALUES (?, ?, NULL, NULL, ?, ?, ?, ?)"
)
# By (merchant_id, id), as on PostgreSQL: never by id alone.
_ACCOUNT = {
    1: "SELECT asset_code, frozen, balance_shards, uses_lots, merchant_id FROM accounts"
    " WHERE merchant_id = ? AND id = ?",
    2: "SELECT asset_code, frozen, balance_shards, uses_lots, merchant_id FROM accounts"
    " WHERE merchant_id IN (?, ?) AND id = ?",
}
_ROW = "merchant_id = ? AND account_id = ? AND shard = ?"
# Written as subtractions, which cannot overflow on a limited account.
_DEBIT_LIMIT = (
    "(NOT debits_must_not_exceed_credits OR credits_posted - debits_posted - debits_pending >= ?)"
)
_CREDIT_LIMIT = (
    "(NOT credits_must_not_exceed_debits OR debits_posted - credits_posted - credits_pending >= ?)"
)
_TRANSFER_EXISTS = "SELECT 1 FROM transfers WHERE merchant_id = ? AND id = ?"
_INSERT_TRANSFER = (
    "INSERT INTO transfers (merchant_id, id, entry_id, debit_account_id, credit_account_id,"
    " debit_shard, credit_shard, asset_code, amount, kind, code, reference, expires_at,"
    " pending_id, reverses_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_HOLD = (
    "SELECT debit_account_id, credit_account_id, expires_at, amount, code, asset_code,"
    " reference, debit_shard, credit_shard FROM transfers"
    " WHERE merchant_id = ? AND id = ? AND kind = 'pending'"
)
_RESOLUTION = "SELECT 1 FROM transfers WHERE merchant_id = ? AND pending_id = ?"
_REVERSED = (
    "SELECT amount, debit_account_id, credit_account_id, reference FROM transfers"
    " WHERE merchant_id = ? AND id = ? AND kind IN ('regular', 'post')"
)
_REVERSED_SO_FAR = (
    "SELECT coalesce(sum(amount), 0) FROM transfers WHERE merchant_id = ? AND reverses_id = ?"
)
_LOTS_TO_SPEND = (
    "SELECT id, remaining FROM lots WHERE merchant_id = ? AND account_id = ? AND remaining > 0"
    " ORDER BY expires_at IS NULL, expires_at, created_at, id"
)
_SPEND_LOT = "UPDATE lots SET remaining = remaining - ? WHERE merchant_id = ? AND id = ?"
_INSERT_LOT = (
    "INSERT INTO lots (merchant_id, id, account_id, transfer_id, amount, remaining,"
    " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# UPDATE statements of a counter row, by (the counters changed, those that grow,
# the limit's kind): a few dozen at most, each made once.
_CHANGES: dict[tuple[tuple[str, ...], tuple[bool, ...], str | None], tuple[str, str | None]] = {}


class _AccountRow(NamedTuple):
    id: uuid.UUID
    merchant_hex: str
    asset_code: str
    frozen: bool
    balance_shards: int
    uses_lots: bool


def stored_moment(moment: datetime) -> str:
    """A moment as SQLAlchemy's UTCDateTime keeps it on SQLite: naive UTC text."""
    assert moment.tzinfo is not None, "timestamps must be timezone-aware"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _moment(stored: str | None) -> datetime | None:
    return None if stored is None else datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _hex(value: uuid.UUID | None) -> str | None:
    return None if value is None else value.hex


class SqliteLedgerWriter:
    """Posts one journal entry inside the transaction open on `connection`."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        merchant_id: uuid.UUID,
        entry_id: uuid.UUID,
        now: datetime,
        allowed_merchants: tuple[uuid.UUID, ...],
    ) -> None:
        assert 1 <= len(allowed_merchants) <= 2
        self.connection = connection
        self.merchant_id = merchant_id
        self.merchant_hex = merchant_id.hex
        self.entry_id = entry_id
        self.now = now
        self.stored_now = stored_moment(now)
        self.allowed_hex = tuple(merchant.hex for merchant in allowed_merchants)
        self.balances: dict[str, dict[str, int]] = {}
        # The transfers' rows, when they are written after the entry's (see post_entry).
        self.deferred_transfers: list[tuple[Any, ...]] | None = None

    def _one(self, statement: str, parameters: tuple[Any, ...]) -> Any:
        # fetchall, so that the statement has run to its end (and is reset) at once.
        rows = self.connection.execute(statement, parameters).fetchall()
        return rows[0] if rows else None

    def post_entry(
        self,
        *,
        kind: str,
        idempotency_key: str | None,
        request_hash: str | None,
        memo: str | None,
        operations: list[Operation],
    ) -> dict[str, Any]:
        if idempotency_key is not None:
            # One writer at a time (BEGIN IMMEDIATE): no concurrent claim of the key.
            existing = self._one(_IDEMPOTENCY_RECORD, (self.merchant_hex, idempotency_key))
            if existing is not None:
                stored_hash, entry_hex, answer_json = existing
                if stored_hash != request_hash:
                    raise errors.IdempotencyKeyReused()
                answer = json.loads(answer_json) if answer_json is not None else None
                if answer is None:
                    (result_json,) = self._one(_ENTRY_RESULT, (self.merchant_hex, entry_hex))
                    answer = json.loads(result_json)
                return {**answer, "replayed": True}
            self.connection.execute(
                _CLAIM_KEY,
                (
                    self.merchant_hex,
                    idempotency_key,
                    kind,
                    request_hash,
                    self.entry_id.hex,
                    self.stored_now,
                ),
            )

        # A transfer names its entry by a deferred foreign key. Written before the
        # entry's row, each raises SQLite's count of pending violations, and the
        # entry's row then looks for its transfers to settle it: with no index on
        # (merchant_id, entry_id), through every transfer of the merchant (measured:
        # 2.8 ms an entry at 7 000 transfers, growing with them). When no operation
        # needs to see another's row (none names another's id, none shares an id),
        # the transfers are written after the entry's row instead, with the same
        # checks at the same place; otherwise in order, as PostgreSQL does.
        if _independent(operations):
            self.deferred_transfers = []
        posted = [self._apply(operation) for operation in operations]
        result = {
            "entry_id": str(self.entry_id),
            "kind": kind,
            "created_at": self.now.isoformat(),
            "transfers": posted,
            "balances": self.balances,
            "replayed": False,
        }
        # The key and the hash live in idempotency_records.
        self.connection.execute(
            _INSERT_ENTRY,
            (
                self.merchant_hex,
                self.entry_id.hex,
                kind,
                memo,
                json.dumps(result),
                self.stored_now,
            ),
        )
        if self.deferred_transfers:
            self.connection.executemany(_INSERT_TRANSFER, self.deferred_transfers)
        return result

    def _apply(self, operation: Operation) -> dict[str, Any]:
        if isinstance(operation, Transfer):
            return self._move(
                operation.id,
                operation.debit_account_id,
                operation.credit_account_id,
                operation.amount,
                kind="regular",
                code=operation.code,
                reference=operation.reference,
                lot_expires_at=operation.lot_expires_at,
            )
        if isinstance(operation, Hold):
            return self._move(
                operation.id,
                operation.debit_account_id,
                operation.credit_account_id,
                operation.amount,
                kind="pending",
                code=operation.code,
                reference=operation.reference,
                expires_at=operation.expires_at,
            )
        if isinstance(operation, PostHold | VoidHold | Expire):
            amount = operation.amount if isinstance(operation, PostHold) else None
            lot_expires_at = operation.lot_expires_at if isinstance(operation, PostHold) else None
            return self._resolve_hold(
                operation.id, operation.pending_id, operation.op, amount, lot_expires_at
            )
        if isinstance(operation, Reverse):
            return self._reverse(operation)
        raise AssertionError(f"unknown operation {operation!r}")

    def _account(self, account_id: uuid.UUID) -> _AccountRow:
        row = self._one(_ACCOUNT[len(self.allowed_hex)], (*self.allowed_hex, account_id.hex))
        if row is None:
            raise errors.AccountNotFound(account_id=str(account_id))
        asset_code, frozen, balance_shards, uses_lots, merchant_hex = row
        return _AccountRow(
            account_id, merchant_hex, asset_code, bool(frozen), balance_shards, bool(uses_lots)
        )

    def _change(
        self,
        account: _AccountRow,
        shard: int,
        changes: dict[str, int],
        limit: tuple[str, int] | None,
    ) -> dict[str, int] | None:
        """Add `changes` to one counter row; None when the limit refuses it.

        `limit` is the limit's condition and the amount it is checked against.
        """
        names = tuple(changes)
        deltas = tuple(changes.values())
        grows = tuple(delta > 0 for delta in deltas)
        update, limited = _change_statements(names, grows, limit[0] if limit else None)
        row_key = (account.merchant_hex, account.id.hex, shard)
        # SQLite would turn an overflowing integer into a float, so the statement
        # refuses it; PostgreSQL raises numeric_value_out_of_range instead.
        ceilings = tuple(AMOUNT_MINOR_MAX - delta for delta in deltas if delta > 0)
        limit_amount = (limit[1],) if limit else ()
        row = self._one(update, (*deltas, *row_key, *ceilings, *limit_amount))
        if row is None:
            # The limit comes first: a debit beyond the balance is insufficient
            # funds even when it would also overflow a counter.
            if limited is not None and self._one(limited, (*row_key, *limit_amount)) is None:
                return None
            raise errors.AmountOverflow()
        balance = dict(zip(_COUNTERS, row, strict=True))
        if account.balance_shards == 1:
            self.balances[str(account.id)] = balance
        return balance

    def _move(
        self,
        transfer_id: uuid.UUID,
        debit_id: uuid.UUID,
        credit_id: uuid.UUID,
        amount: int,
        *,
        kind: str,
        code: str,
        reference: str | None,
        expires_at: datetime | None = None,
        reverses_id: uuid.UUID | None = None,
        lot_expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        if debit_id == credit_id:
            raise errors.SameAccount()
        debit, credit = self._account(debit_id), self._account(credit_id)
        if debit.asset_code != credit.asset_code:
            raise errors.AssetMismatch()
        if debit.frozen or credit.frozen:
            raise errors.AccountFrozen()
        # SQLite has one writer at a time, so no shard is ever busy: any will do.
        # (PostgreSQL takes a free one: cagnotte_take_shard.)
        debit_shard = random.randrange(debit.balance_shards)
        credit_shard = random.randrange(credit.balance_shards)
        pending = kind == "pending"
        side = "pending" if pending else "posted"
        debit_limit = (_DEBIT_LIMIT, amount)
        if self._change(debit, debit_shard, {f"debits_{side}": amount}, debit_limit) is None:
            raise errors.InsufficientFunds(account_id=str(debit_id))
        credit_limit = (_CREDIT_LIMIT, amount)
        if self._change(credit, credit_shard, {f"credits_{side}": amount}, credit_limit) is None:
            raise errors.LimitExceeded(account_id=str(credit_id))

        record = {
            "id": transfer_id,
            "kind": kind,
            "code": code,
            "debit_account_id": debit_id,
            "credit_account_id": credit_id,
            "asset_code": debit.asset_code,
            "amount": amount,
            "reference": reference,
            "expires_at": expires_at,
            "pending_id": None,
            "reverses_id": reverses_id,
            "created_at": self.now,
        }
        self._insert_transfer(record, debit_shard, credit_shard)
        if not pending:
            if debit.uses_lots:
                self._consume_lots(debit, amount)
            if credit.uses_lots:
                self._add_lot(credit, transfer_id, amount, lot_expires_at)
        return _as_json(record)

    def _resolve_hold(
        self,
        transfer_id: uuid.UUID,
        pending_id: uuid.UUID,
        kind: str,
        amount: int | None,
        lot_expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        hold = self._one(_HOLD, (self.merchant_hex, pending_id.hex))
        if hold is None:
            raise errors.PendingTransferNotFound()
        (
            debit_hex,
            credit_hex,
            hold_expires_at,
            hold_amount,
            hold_code,
            asset_code,
            hold_reference,
            debit_shard,
            credit_shard,
        ) = hold
        debit_id, credit_id = uuid.UUID(debit_hex), uuid.UUID(credit_hex)
        debit, credit = self._account(debit_id), self._account(credit_id)
        expires_at = _moment(hold_expires_at)
        lapsed = expires_at is not None and self.now >= expires_at
        if kind == "expire" and not lapsed:
            raise errors.InvalidInput("the hold has not lapsed")
        if kind != "expire" and lapsed:
            raise errors.PendingTransferExpired()
        posted = 0
        if kind == "post":
            posted = hold_amount if amount is None else amount
            if posted > hold_amount:
                raise errors.PendingAmountExceeded()
        # PostgreSQL writes the resolution first and its primary key is checked
        # before the unique index on pending_id: a reused id wins over a second
        # resolution there, so it does here too.
        if self._one(_TRANSFER_EXISTS, (self.merchant_hex, transfer_id.hex)) is not None:
            raise errors.TransferExists()
        if self._one(_RESOLUTION, (self.merchant_hex, pending_id.hex)) is not None:
            raise errors.PendingTransferAlreadyResolved()

        record = {
            "id": transfer_id,
            "kind": kind,
            "code": hold_code,
            "debit_account_id": debit_id,
            "credit_account_id": credit_id,
            "asset_code": asset_code,
            "amount": posted if kind == "post" else hold_amount,
            "reference": hold_reference,
            "expires_at": None,
            "pending_id": pending_id,
            "reverses_id": None,
            "created_at": self.now,
        }
        self._insert_transfer(record, debit_shard, credit_shard)
        self._change(
            debit, debit_shard, {"debits_pending": -hold_amount, "debits_posted": posted}, None
        )
        self._change(
            credit, credit_shard, {"credits_pending": -hold_amount, "credits_posted": posted}, None
        )
        if posted > 0:
            if debit.uses_lots:
                self._consume_lots(debit, posted)
            if credit.uses_lots:
                self._add_lot(credit, transfer_id, posted, lot_expires_at)
        return _as_json(record)

    def _reverse(self, operation: Reverse) -> dict[str, Any]:
        original = self._one(_REVERSED, (self.merchant_hex, operation.reverses_id.hex))
        if original is None:
            raise errors.TransferNotFound()
        original_amount, debit_hex, credit_hex, original_reference = original
        (reversed_so_far,) = self._one(
            _REVERSED_SO_FAR, (self.merchant_hex, operation.reverses_id.hex)
        )
        amount = original_amount - reversed_so_far if operation.amount is None else operation.amount
        if amount <= 0 or reversed_so_far + amount > original_amount:
            raise errors.ReversalExceedsTransfer()
        return self._move(
            operation.id,
            uuid.UUID(credit_hex),
            uuid.UUID(debit_hex),
            amount,
            kind="regular",
            code=operation.code or "reversal",
            reference=operation.reference or original_reference,
            reverses_id=operation.reverses_id,
        )

    def _insert_transfer(self, record: dict[str, Any], debit_shard: int, credit_shard: int) -> None:
        # Checked before the insert, so that no database error has to be read for it.
        if self._one(_TRANSFER_EXISTS, (self.merchant_hex, record["id"].hex)) is not None:
            raise errors.TransferExists()
        expires_at = record["expires_at"]
        row = (
            self.merchant_hex,
            record["id"].hex,
            self.entry_id.hex,
            record["debit_account_id"].hex,
            record["credit_account_id"].hex,
            debit_shard,
            credit_shard,
            record["asset_code"],
            record["amount"],
            record["kind"],
            record["code"],
            record["reference"],
            None if expires_at is None else stored_moment(expires_at),
            _hex(record["pending_id"]),
            _hex(record["reverses_id"]),
            self.stored_now,
        )
        if self.deferred_transfers is not None:
            self.deferred_transfers.append(row)
        else:
            self.connection.execute(_INSERT_TRANSFER, row)

    def _consume_lots(self, account: _AccountRow, amount: int) -> None:
        rows = self.connection.execute(
            _LOTS_TO_SPEND, (account.merchant_hex, account.id.hex)
        ).fetchall()
        left = amount
        for lot_hex, remaining in rows:
            take = min(left, remaining)
            self.connection.execute(_SPEND_LOT, (take, account.merchant_hex, lot_hex))
            left -= take
            if left == 0:
                break

    def _add_lot(
        self,
        account: _AccountRow,
        transfer_id: uuid.UUID,
        amount: int,
        expires_at: datetime | None,
    ) -> None:
        self.connection.execute(
            _INSERT_LOT,
            (
                account.merchant_hex,
                uuid.uuid4().hex,
                account.id.hex,
                transfer_id.hex,
                amount,
                amount,
                None if expires_at is None else stored_moment(expires_at),
                self.stored_now,
            ),
        )


def _independent(operations: list[Operation]) -> bool:
    """Whether no operation of the entry names another's transfer or shares a name with it."""
    ids = [operation.id for operation in operations]
    named = [
        operation.pending_id if isinstance(operation, PostHold | VoidHold | Expire) else None
        for operation in operations
    ] + [
        operation.reverses_id if isinstance(operation, Reverse) else None
        for operation in operations
    ]
    named = [name for name in named if name is not None]
    return (
        len(set(ids)) == len(ids)
        and len(set(named)) == len(named)
        and not set(ids).intersection(named)
    )


def _change_statements(
    names: tuple[str, ...], grows: tuple[bool, ...], limit: str | None
) -> tuple[str, str | None]:
    """The UPDATE … RETURNING of one counter row, and the SELECT that tells a refusal
    by the limit from an overflow (None without a limit)."""
    key = (names, grows, limit)
    statements = _CHANGES.get(key)
    if statements is None:
        assert all(name in _COUNTERS for name in names)
        assignments = ", ".join(f"{name} = {name} + ?" for name in names)
        no_overflow = "".join(
            f" AND {name} <= ?" for name, grow in zip(names, grows, strict=True) if grow
        )
        condition = f" AND {limit}" if limit else ""
        update = (
            f"UPDATE account_balances SET {assignments} WHERE {_ROW}{no_overflow}{condition}"
            f" RETURNING {', '.join(_COUNTERS)}"
        )
        limited = f"SELECT 1 FROM account_balances WHERE {_ROW}{condition}" if limit else None
        statements = _CHANGES[key] = (update, limited)
    return statements


def _as_json(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out

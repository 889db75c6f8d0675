"""The ledger's write path carried out from Python, for SQLite.

It follows cagnotte/db/migrations/versions/0001_postgres_ledger.sql step by
step; SQLite has one writer at a time (the transaction began with BEGIN
IMMEDIATE), so no row locks are needed, but the balance limits are still
checked by the UPDATE that changes them. The same ledger tests run against
both implementations.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)

from cagnotte import errors
from cagnotte.db.tables import (
    account_balances,
    accounts,
    idempotency_records,
    journal_entries,
    lots,
    transfers,
)
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


class SqliteLedgerWriter:
    """Posts one journal entry inside the caller's transaction."""

    def __init__(
        self,
        connection: Connection,
        merchant_id: uuid.UUID,
        entry_id: uuid.UUID,
        now: datetime,
        allowed_merchants: tuple[uuid.UUID, ...],
    ) -> None:
        self.connection = connection
        self.merchant_id = merchant_id
        self.entry_id = entry_id
        self.now = now
        self.allowed_merchants = allowed_merchants
        self.balances: dict[str, dict[str, int]] = {}

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
            existing = self.connection.execute(
                select(
                    idempotency_records.c.request_hash,
                    idempotency_records.c.entry_id,
                    idempotency_records.c.answer,
                ).where(
                    idempotency_records.c.merchant_id == self.merchant_id,
                    idempotency_records.c.key == idempotency_key,
                )
            ).first()
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise errors.IdempotencyKeyReused()
                answer = existing.answer
                if answer is None:
                    answer = self.connection.execute(
                        select(journal_entries.c.result).where(
                            journal_entries.c.merchant_id == self.merchant_id,
                            journal_entries.c.id == existing.entry_id,
                        )
                    ).scalar_one()
                return {**answer, "replayed": True}
            self.connection.execute(
                insert(idempotency_records).values(
                    merchant_id=self.merchant_id,
                    key=idempotency_key,
                    operation=kind,
                    request_hash=request_hash,
                    entry_id=self.entry_id,
                    created_at=self.now,
                )
            )

        posted = [self._apply(operation) for operation in operations]
        result = {
            "entry_id": str(self.entry_id),
            "kind": kind,
            "created_at": self.now.isoformat(),
            "transfers": posted,
            "balances": self.balances,
            "replayed": False,
        }
        self.connection.execute(
            insert(journal_entries).values(
                merchant_id=self.merchant_id,
                id=self.entry_id,
                # The key and the hash live in idempotency_records.
                idempotency_key=None,
                request_hash=None,
                kind=kind,
                memo=memo,
                result=result,
                created_at=self.now,
            )
        )
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

    def _account(self, account_id: uuid.UUID) -> Any:
        # By (merchant_id, id), as on PostgreSQL: never by id alone.
        row = self.connection.execute(
            select(accounts).where(
                accounts.c.merchant_id.in_(self.allowed_merchants), accounts.c.id == account_id
            )
        ).first()
        if row is None:
            raise errors.AccountNotFound(account_id=str(account_id))
        return row

    def _change(
        self, account: Any, shard: int, changes: dict[str, int], limit: Any | None
    ) -> dict[str, int] | None:
        """Add `changes` to one counter row; None when the limit refuses it."""
        row_filter = and_(
            account_balances.c.merchant_id == account.merchant_id,
            account_balances.c.account_id == account.id,
            account_balances.c.shard == shard,
        )
        # SQLite would turn an overflowing integer into a float, so the statement
        # refuses it; PostgreSQL raises numeric_value_out_of_range instead.
        no_overflow = and_(
            true(),
            *(
                account_balances.c[name] <= AMOUNT_MINOR_MAX - delta
                for name, delta in changes.items()
                if delta > 0
            ),
        )
        statement = (
            update(account_balances)
            .where(row_filter, no_overflow)
            .values({name: account_balances.c[name] + delta for name, delta in changes.items()})
            .returning(*(account_balances.c[name] for name in _COUNTERS))
        )
        if limit is not None:
            statement = statement.where(limit)
        row = self.connection.execute(statement).first()
        if row is None:
            # The limit comes first: a debit beyond the balance is insufficient
            # funds even when it would also overflow a counter.
            if (
                limit is not None
                and self.connection.execute(select(literal(1)).where(row_filter, limit)).first()
                is None
            ):
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
        c = account_balances.c
        # Written as a subtraction, which cannot overflow on a limited account.
        debit_limit = or_(
            not_(c.debits_must_not_exceed_credits),
            c.credits_posted - c.debits_posted - c.debits_pending >= amount,
        )
        if self._change(debit, debit_shard, {f"debits_{side}": amount}, debit_limit) is None:
            raise errors.InsufficientFunds(account_id=str(debit_id))
        credit_limit = or_(
            not_(c.credits_must_not_exceed_debits),
            c.debits_posted - c.credits_posted - c.credits_pending >= amount,
        )
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
        hold = self.connection.execute(
            select(transfers).where(
                transfers.c.merchant_id == self.merchant_id,
                transfers.c.id == pending_id,
                transfers.c.kind == "pending",
            )
        ).first()
        if hold is None:
            raise errors.PendingTransferNotFound()
        debit, credit = self._account(hold.debit_account_id), self._account(hold.credit_account_id)
        lapsed = hold.expires_at is not None and self.now >= hold.expires_at
        if kind == "expire" and not lapsed:
            raise errors.InvalidInput("the hold has not lapsed")
        if kind != "expire" and lapsed:
            raise errors.PendingTransferExpired()
        posted = 0
        if kind == "post":
            posted = hold.amount if amount is None else amount
            if posted > hold.amount:
                raise errors.PendingAmountExceeded()
        # PostgreSQL writes the resolution first and its primary key is checked
        # before the unique index on pending_id: a reused id wins over a second
        # resolution there, so it does here too.
        if (
            self.connection.execute(
                select(transfers.c.id).where(
                    transfers.c.merchant_id == self.merchant_id, transfers.c.id == transfer_id
                )
            ).first()
            is not None
        ):
            raise errors.TransferExists()
        already = self.connection.execute(
            select(transfers.c.id).where(
                transfers.c.merchant_id == self.merchant_id, transfers.c.pending_id == pending_id
            )
        ).first()
        if already is not None:
            raise errors.PendingTransferAlreadyResolved()

        record = {
            "id": transfer_id,
            "kind": kind,
            "code": hold.code,
            "debit_account_id": hold.debit_account_id,
            "credit_account_id": hold.credit_account_id,
            "asset_code": hold.asset_code,
            "amount": posted if kind == "post" else hold.amount,
            "reference": hold.reference,
            "expires_at": None,
            "pending_id": pending_id,
            "reverses_id": None,
            "created_at": self.now,
        }
        self._insert_transfer(record, hold.debit_shard, hold.credit_shard)
        self._change(
            debit,
            hold.debit_shard,
            {"debits_pending": -hold.amount, "debits_posted": posted},
            None,
        )
        self._change(
            credit,
            hold.credit_shard,
            {"credits_pending": -hold.amount, "credits_posted": posted},
            None,
        )
        if posted > 0:
            if debit.uses_lots:
                self._consume_lots(debit, posted)
            if credit.uses_lots:
                self._add_lot(credit, transfer_id, posted, lot_expires_at)
        return _as_json(record)

    def _reverse(self, operation: Reverse) -> dict[str, Any]:
        original = self.connection.execute(
            select(transfers).where(
                transfers.c.merchant_id == self.merchant_id,
                transfers.c.id == operation.reverses_id,
                transfers.c.kind.in_(("regular", "post")),
            )
        ).first()
        if original is None:
            raise errors.TransferNotFound()
        reversed_so_far = self.connection.execute(
            select(func.coalesce(func.sum(transfers.c.amount), 0)).where(
                transfers.c.merchant_id == self.merchant_id,
                transfers.c.reverses_id == operation.reverses_id,
            )
        ).scalar_one()
        amount = original.amount - reversed_so_far if operation.amount is None else operation.amount
        if amount <= 0 or reversed_so_far + amount > original.amount:
            raise errors.ReversalExceedsTransfer()
        return self._move(
            operation.id,
            original.credit_account_id,
            original.debit_account_id,
            amount,
            kind="regular",
            code=operation.code or "reversal",
            reference=operation.reference or original.reference,
            reverses_id=original.id,
        )

    def _insert_transfer(self, record: dict[str, Any], debit_shard: int, credit_shard: int) -> None:
        # Checked before the insert, so that no database error has to be read for it.
        if (
            self.connection.execute(
                select(literal(1)).where(
                    transfers.c.merchant_id == self.merchant_id, transfers.c.id == record["id"]
                )
            ).first()
            is not None
        ):
            raise errors.TransferExists()
        self.connection.execute(
            insert(transfers).values(
                merchant_id=self.merchant_id,
                entry_id=self.entry_id,
                debit_shard=debit_shard,
                credit_shard=credit_shard,
                **record,
            )
        )

    def _consume_lots(self, account: Any, amount: int) -> None:
        rows = self.connection.execute(
            select(lots.c.id, lots.c.remaining)
            .where(
                lots.c.merchant_id == account.merchant_id,
                lots.c.account_id == account.id,
                lots.c.remaining > 0,
            )
            .order_by(lots.c.expires_at.is_(None), lots.c.expires_at, lots.c.created_at, lots.c.id)
        ).all()
        left = amount
        for lot in rows:
            take = min(left, lot.remaining)
            self.connection.execute(
                update(lots)
                .where(lots.c.merchant_id == account.merchant_id, lots.c.id == lot.id)
                .values(remaining=lots.c.remaining - take)
            )
            left -= take
            if left == 0:
                break

    def _add_lot(
        self, account: Any, transfer_id: uuid.UUID, amount: int, expires_at: datetime | None
    ) -> None:
        self.connection.execute(
            insert(lots).values(
                merchant_id=account.merchant_id,
                id=uuid.uuid4(),
                account_id=account.id,
                transfer_id=transfer_id,
                amount=amount,
                remaining=amount,
                expires_at=expires_at,
                created_at=self.now,
            )
        )


def _as_json(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out

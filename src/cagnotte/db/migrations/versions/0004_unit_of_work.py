"""unit of work: idempotency records, ledger functions version 2, append-only history

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-12-01 08:30:00

Joins the product branches (bonus codes, gift cards) back into one line.

- idempotency_records: one row per Idempotency-Key of a merchant, with the
  request's hash and the answer; the keys journal entries held so far are
  copied into it (their entries' results remain their answers).
- PostgreSQL: the ledger's functions, version 2 (0004_postgres_ledger.sql):
  accounts found by (merchant_id, id), keys claimed by an idempotency record
  instead of an advisory lock, and triggers that refuse UPDATE, DELETE and
  TRUNCATE on transfers and journal entries.
- SQLite: the same refusal by triggers.
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cagnotte.db.types

revision: str = "0004"
down_revision: str | Sequence[str] | None = ("0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_FUNCTIONS = Path(__file__).parent / "0004_postgres_ledger.sql"
APPEND_ONLY_TABLES = ("transfers", "journal_entries")


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=60), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column(
            "answer",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"],
            name=op.f("fk_idempotency_records_merchant_id_merchants"), ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("merchant_id", "key", name=op.f("pk_idempotency_records")),
    )
    op.execute(
        "INSERT INTO idempotency_records"
        " (merchant_id, key, operation, request_hash, entry_id, answer, created_at)"
        " SELECT merchant_id, idempotency_key, kind, request_hash, id, NULL, created_at"
        " FROM journal_entries WHERE idempotency_key IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(LEDGER_FUNCTIONS.read_text()))
    else:
        for table in APPEND_ONLY_TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_append_only_{event.lower()} BEFORE {event}"
                    f" ON {table} BEGIN SELECT RAISE(ABORT, 'history_is_append_only'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_never_truncated ON {table}")
        op.execute("DROP FUNCTION IF EXISTS cagnotte_refuse_history_change()")
        # Version 1 of the ledger's functions again.
        op.execute("DROP FUNCTION IF EXISTS cagnotte_account(uuid, uuid[])")
        op.execute(sa.text((Path(__file__).parent / "0001_postgres_ledger.sql").read_text()))
    else:
        for table in APPEND_ONLY_TABLES:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_{event}")
    op.drop_table("idempotency_records")

"""ledger functions version 3: a reversal near the counters' end is bounded without overflow

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:00:00

cagnotte_reverse compared `reversed so far + asked` with the transfer's amount,
which overflows a bigint near 2**63 - 1 (amount_overflow) where SQLite answers
reversal_exceeds_transfer; version 3 compares what is asked with what is left.
Found by the SQLite/PostgreSQL parity test.
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONS = Path(__file__).parent


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text((VERSIONS / "0009_postgres_ledger.sql").read_text()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text((VERSIONS / "0004_postgres_ledger.sql").read_text()))

"""ledger functions version 5: many entries in one statement (group commit)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 14:00:00

cagnotte_post_entries posts a batch of journal entries in one transaction, each
in a subtransaction of its own, so that the service can gather the payments that
arrive together into one round trip and one commit (ledger/batcher.py). The
other functions are version 4's (0024), unchanged.
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONS = Path(__file__).parent


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text((VERSIONS / "0025_postgres_ledger.sql").read_text()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP FUNCTION IF EXISTS cagnotte_post_entries(jsonb)"))
        op.execute(sa.text((VERSIONS / "0024_postgres_ledger.sql").read_text()))

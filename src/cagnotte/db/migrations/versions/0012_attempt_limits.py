"""attempt limits: one table for every lockout

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:50:00

The attempts at a secret (a password, a sign-in code, a PIN, a bonus code)
are counted in attempt_limits by security/attempts.py, reserved before the
secret is checked so that parallel requests cannot get around the count.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attempt_limits",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", cagnotte.db.types.UTCDateTime(), nullable=False),
        sa.Column("locked_until", cagnotte.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", cagnotte.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_attempt_limits")),
    )


def downgrade() -> None:
    op.drop_table("attempt_limits")

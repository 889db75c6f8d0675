"""captcha quotas: challenges counted per customer and per client address

Revision ID: 0016
Revises: 0021
Create Date: 2026-12-01 12:00:00

One counter row per customer and per client address, raised by an upsert in
the transaction that stores a challenge (security/captcha.py), so that
parallel requests cannot fetch more than the quota.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cagnotte.db.types

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "captcha_quotas",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column(
            "window_started_at", cagnotte.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.CheckConstraint("issued > 0", name=op.f("ck_captcha_quotas_issued_positive")),
        sa.CheckConstraint(
            "scope IN ('customer', 'address')", name=op.f("ck_captcha_quotas_scope")
        ),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_captcha_quotas")),
    )


def downgrade() -> None:
    op.drop_table("captcha_quotas")

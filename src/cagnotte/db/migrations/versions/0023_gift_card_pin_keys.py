"""gift card PINs are kept as a keyed hash and record the id of its key

Revision ID: 0023
Revises: 0025
Create Date: 2026-12-01 14:00:00

A PIN is now HMAC-SHA256 of the card's number and PIN under a key held in the
settings (programs/gift_cards/pins.py), in `pin_hash` as before; `pin_key_id`
names that key, so that it can be rotated like the number keys. Cards from
before keep their argon2 hash and a NULL key id until their next right PIN.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("gift_cards", sa.Column("pin_key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.drop_column("pin_key_id")

"""gift card numbers and bonus codes record the id of their hash's key

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-02 09:00:00

The keys of the number and code hashes can be rotated (security/hash_keys.py):
each row names the key its hash was made under, so that the rows still needing
an older key can be counted. Rows from before stay NULL (the key of that
time) until a look-up finds them and hashes them again under the newest key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("gift_cards", sa.Column("number_key_id", sa.String(length=16), nullable=True))
    op.add_column("bonus_codes", sa.Column("code_key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bonus_codes", schema=None) as batch_op:
        batch_op.drop_column("code_key_id")
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.drop_column("number_key_id")

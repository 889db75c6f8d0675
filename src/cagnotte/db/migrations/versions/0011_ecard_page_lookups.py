"""e-card page tokens are claimed in platform_lookups

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 11:45:00

An e-card's page is opened by its token alone, so the token's hash is unique
platform-wide: that is held by platform_lookups ('ecard_page'), copied from the
cards; gift_cards keeps it unique per merchant.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO platform_lookups (kind, value, merchant_id, row_id, created_at)"
        " SELECT 'ecard_page', page_token_hash, merchant_id, id, created_at"
        " FROM gift_cards WHERE page_token_hash IS NOT NULL"
    )
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_gift_cards_page_token_hash"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_gift_cards_merchant_id_page_token_hash"), ["merchant_id", "page_token_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("uq_gift_cards_merchant_id_page_token_hash"), type_="unique"
        )
        batch_op.create_unique_constraint(
            op.f("uq_gift_cards_page_token_hash"), ["page_token_hash"]
        )
    op.execute("DELETE FROM platform_lookups WHERE kind = 'ecard_page'")

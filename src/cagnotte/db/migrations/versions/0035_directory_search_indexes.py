"""memberships: indexes for the directory's search at 100 000 members

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-01 16:40:00

Both databases: the name index gains the id (the search's order is name, then
id: a page is one walk of the index, without a sort) and the phone (a fragment
of a number is checked on the index), and the merchant's phones get an index in
the same order (a whole number is looked up by equality, its rows already in
the search's order).

PostgreSQL only: trigram GIN indexes (pg_trgm, shipped with PostgreSQL's own
packages; a trusted extension, so a database owner may create it) on the folded
name and on the phone, which serve the search's `LIKE '%fragment%'`. SQLite has
no such index: it walks the name index in order (crm/tables.py says which
indexes are PostgreSQL's only, and Alembic's comparisons leave them out).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | Sequence[str] | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_memberships_search_name", table_name="memberships")
    op.create_index(
        "ix_memberships_search_name", "memberships", ["merchant_id", "search_name", "id", "phone"]
    )
    op.create_index(
        "ix_memberships_phone", "memberships", ["merchant_id", "phone", "search_name", "id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_memberships_search_name_trgm ON memberships"
            " USING gin (search_name gin_trgm_ops)"
        )
        op.execute(
            "CREATE INDEX ix_memberships_phone_trgm ON memberships USING gin (phone gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_memberships_phone_trgm")
        op.execute("DROP INDEX IF EXISTS ix_memberships_search_name_trgm")
        # The extension stays: another object may use it by now.
    op.drop_index("ix_memberships_phone", table_name="memberships")
    op.drop_index("ix_memberships_search_name", table_name="memberships")
    op.create_index("ix_memberships_search_name", "memberships", ["merchant_id", "search_name"])

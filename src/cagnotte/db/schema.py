"""Every table of every package, for Alembic's comparisons."""

from typing import Any

from cagnotte.catalogue import tables as _catalogue  # noqa: F401
from cagnotte.checkout import tables as _checkout  # noqa: F401
from cagnotte.crm import tables as _crm  # noqa: F401
from cagnotte.db.tables import metadata
from cagnotte.outbox import tables as _outbox  # noqa: F401
from cagnotte.programs.bonus_codes import tables as _bonus_codes  # noqa: F401
from cagnotte.programs.gift_cards import tables as _gift_cards  # noqa: F401
from cagnotte.programs.loyalty import tables as _loyalty  # noqa: F401
from cagnotte.security import tables as _security  # noqa: F401
from cagnotte.webhooks import tables as _webhooks  # noqa: F401

# Indexes PostgreSQL has and SQLite cannot (pg_trgm's GIN, migration 0035): like the
# ledger's functions and triggers, they are made by their migration and not declared
# in the metadata, so that both databases' schemas compare equal to it.
POSTGRESQL_ONLY_INDEXES = frozenset(
    {"ix_memberships_search_name_trgm", "ix_memberships_phone_trgm"}
)


def include_object(
    item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: everything but the PostgreSQL-only indexes found in a database."""
    return not (type_ == "index" and reflected and name in POSTGRESQL_ONLY_INDEXES)


__all__ = ["POSTGRESQL_ONLY_INDEXES", "include_object", "metadata"]

"""Migration 0022 gives the merchants made before it what their currency makes obvious."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import create_engine, insert, select

from cagnotte.db.engine import normalise_database_url
from cagnotte.db.migrate import alembic_config, migrate
from cagnotte.db.tables import accounts, merchants

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def _merchant_with(connection, name: str, currencies: list[str]) -> uuid.UUID:
    """A merchant as made before 0022 (no locale columns named), with accounts in these."""
    merchant_id = uuid.uuid4()
    connection.execute(
        insert(merchants).values(id=merchant_id, name=name, status="active", created_at=NOW)
    )
    for currency in currencies:
        connection.execute(
            insert(accounts).values(
                merchant_id=merchant_id,
                id=uuid.uuid4(),
                asset_code=currency,
                owner_type="merchant",
                owner_id=uuid.uuid4(),
                purpose="settlement",
                debits_must_not_exceed_credits=False,
                credits_must_not_exceed_debits=False,
                uses_lots=False,
                created_at=NOW,
            )
        )
    return merchant_id


def test_existing_merchants_get_the_locale_of_their_one_currency_else_prague(database_url):
    config = alembic_config(database_url)
    command.downgrade(config, "0023")
    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.begin() as connection:
            made = {
                "quebec": _merchant_with(connection, "Québec", ["CAD", "CAD"]),
                "paris": _merchant_with(connection, "Paris", ["EUR"]),
                "brno": _merchant_with(connection, "Brno", ["CZK"]),
                "both": _merchant_with(connection, "Both", ["CAD", "EUR"]),
                "none": _merchant_with(connection, "None", []),
            }
        migrate(database_url)
        with engine.connect() as connection:
            rows = {
                row.id: (row.country, row.locale, row.time_zone)
                for row in connection.execute(
                    select(
                        merchants.c.id,
                        merchants.c.country,
                        merchants.c.locale,
                        merchants.c.time_zone,
                    )
                )
            }
    finally:
        engine.dispose()
    prague = ("CZ", "cs_CZ", "Europe/Prague")
    assert {name: rows[merchant_id] for name, merchant_id in made.items()} == {
        "quebec": ("CA", "en_CA", "America/Toronto"),
        "paris": ("FR", "fr_FR", "Europe/Paris"),
        "brno": prague,
        "both": prague,
        "none": prague,
    }

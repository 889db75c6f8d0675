"""Bring a database's schema to the newest migration (the same ones on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from cagnotte.db.engine import normalise_database_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    url = normalise_database_url(database_url)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(database_url: str) -> None:
    """Upgrade to the newest schema; a database already there is left as it is.

    Each product adds its tables in its own migration branch off the core one,
    so the target is every head.
    """
    command.upgrade(alembic_config(database_url), "heads")

"""Migrations: a shipped one never changes, and a migrated database runs the newest code.

The ledger's PostgreSQL functions live in SQL files, each applied by its own
migration. A database migrated before an edit of such a file would keep the old
function and nobody would notice; so a change is a new file and a new revision,
the files that shipped are pinned here by their hash, and the functions of a
migrated database are compared with the newest file's.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import DBAPIError

from cagnotte.db.engine import Database
from cagnotte.db.tables import journal_entries, transfers
from cagnotte.ledger import Ledger, Transfer
from tests.integration.ledger.test_ledger import Books

VERSIONS = Path(__file__).parents[2] / "src" / "cagnotte" / "db" / "migrations" / "versions"

# Every SQL file that has shipped, by its SHA-256. A file here is never edited:
# add a new file (and a new revision that applies it) instead, and its hash here.
SHIPPED_SQL_FILES = {
    "0001_postgres_ledger.sql": "ef014e4490a8082ae7d483591909ae454afe2895e7ad6873577cfece7c3770b9",
    "0004_postgres_ledger.sql": "e4093b99d19dc718e6dcb81db5d3a15299f7bb771c69e16a39061ed907418685",
    "0009_postgres_ledger.sql": "8f0fcb93be86b6ed41b601b101b8d5ae44b82b4470bb4dedba1734885bbf4271",
    "0024_postgres_ledger.sql": "fdcb44582dad0df02694c18f34fca263922d21846303fbba8bb603f1d8196650",
    "0025_postgres_ledger.sql": "976350fade290aa0bc270abf62cddd410222dcc2edfe85a91b10d24063e87fad",
}

_FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION (\w+)\(.*?\$\$\n(.*?)\$\$;", re.DOTALL)


def _functions_of(sql: str) -> dict[str, str]:
    """Each function's body as written in the file (PostgreSQL keeps it as `prosrc`)."""
    return {name: "\n" + body for name, body in _FUNCTION.findall(sql)}


def _newest_ledger_file() -> Path:
    return sorted(VERSIONS.glob("*_postgres_ledger.sql"))[-1]


def test_no_shipped_sql_file_was_edited_and_every_file_is_pinned():
    found = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in VERSIONS.glob("*.sql")
    }
    assert found == SHIPPED_SQL_FILES


def test_each_sql_file_is_applied_by_the_migration_of_its_number():
    for name in SHIPPED_SQL_FILES:
        number = name.split("_")[0]
        (migration,) = [path for path in VERSIONS.glob(f"{number}_*.py")]
        assert name in migration.read_text(), f"{migration.name} does not apply {name}"


def test_a_migrated_database_runs_the_newest_ledger_functions(postgres_url: str):
    newest = _functions_of(_newest_ledger_file().read_text())
    assert "cagnotte_post_entry" in newest and "cagnotte_account" in newest
    engine = create_engine(Database(postgres_url).url)
    with engine.connect() as connection:
        installed = dict(
            connection.execute(
                text(
                    "SELECT proname, prosrc FROM pg_proc"
                    " WHERE proname LIKE 'cagnotte\\_%' AND pronamespace = 'public'::regnamespace"
                )
            ).all()
        )
        overloads = (
            connection.execute(
                text(
                    "SELECT proname FROM pg_proc WHERE proname LIKE 'cagnotte\\_%'"
                    " GROUP BY proname HAVING count(*) > 1"
                )
            )
            .scalars()
            .all()
        )
    engine.dispose()
    # No function of an older version is left behind under another signature.
    assert overloads == []
    assert set(installed) == set(newest)
    for name, body in newest.items():
        assert installed[name] == body, f"{name} differs from {_newest_ledger_file().name}"


def test_the_ledger_function_is_not_written_to_return_a_table_row_type():
    # A distributed table's row type is not to be returned (Citus).
    sql = _newest_ledger_file().read_text()
    returns = re.findall(r"\)\s*RETURNS (\w+)", sql)
    assert set(returns) <= {"jsonb", "void", "int", "trigger"}


@pytest.fixture
def posted(books: Books) -> Transfer:
    wallet = books.wallet()
    return books.fund(wallet, 500)


def test_a_transfer_cannot_be_changed_or_removed(books: Books, posted: Transfer):
    ledger: Ledger = books.ledger
    for statement in (
        update(transfers).where(transfers.c.id == posted.id).values(amount=1),
        transfers.delete().where(transfers.c.id == posted.id),
    ):
        with (
            pytest.raises(DBAPIError, match="history_is_append_only"),
            ledger.database.transaction() as connection,
        ):
            connection.execute(statement)
    with ledger.database.read() as connection:
        assert (
            connection.execute(
                select(transfers.c.amount).where(transfers.c.id == posted.id)
            ).scalar_one()
            == 500
        )


def test_a_journal_entry_cannot_be_changed_or_removed(books: Books, posted: Transfer):
    ledger: Ledger = books.ledger
    for statement in (
        update(journal_entries).values(memo="rewritten"),
        journal_entries.delete(),
    ):
        with (
            pytest.raises(DBAPIError, match="history_is_append_only"),
            ledger.database.transaction() as connection,
        ):
            connection.execute(statement)


def test_the_migrated_schema_is_the_schema_the_code_declares(database: Database):
    # Every table, column, index and constraint of the SQLAlchemy metadata is in
    # the migrated database, and nothing more: no change slips in without a
    # migration.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cagnotte.db.schema import include_object, metadata

    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        differences = compare_metadata(context, metadata)
    assert differences == []

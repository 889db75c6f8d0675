"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from CAGNOTTE_TEST_POSTGRES_URL (scripts/test.sh starts a
throw-away cluster and sets it). Each test gets a fresh database copied from a
template migrated once per run, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database, normalise_database_url
from cagnotte.db.migrate import migrate
from cagnotte.ledger import Ledger

POSTGRES_URL = os.environ.get("CAGNOTTE_TEST_POSTGRES_URL")
# One template per pytest process, so that parallel runs on one cluster do not collide.
TEMPLATE_DATABASE = f"cagnotte_test_template_{os.getpid()}"


def _admin_engine():
    return create_engine(normalise_database_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: set CAGNOTTE_TEST_POSTGRES_URL")
        pytest.skip("CAGNOTTE_TEST_POSTGRES_URL is not set")
    engine = _admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {TEMPLATE_DATABASE}"))
    template_url = make_url(normalise_database_url(POSTGRES_URL)).set(database=TEMPLATE_DATABASE)
    migrate(template_url.render_as_string(hide_password=False))
    yield template_url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DATABASE} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "cagnotte.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template_url: str = request.getfixturevalue("postgres_template")
    name = f"cagnotte_test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DATABASE}"))
    yield make_url(template_url).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture
def postgres_url(database_url: str) -> str:
    """For tests that only mean something on PostgreSQL (row locks, concurrency)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL concurrency test")
    return database_url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=20)
    yield database
    database.dispose()


@pytest.fixture
def ledger(database: Database, clock: ManualClock) -> Ledger:
    return Ledger(database, clock)

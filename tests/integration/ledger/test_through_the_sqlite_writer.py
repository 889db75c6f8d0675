"""The ledger's tests again on SQLite, every entry posted alone going through the writer.

The tests of test_ledger.py, test_error_precedence.py and test_async_entries.py,
collected here once more with a ledger whose process writer is open
(ledger/sqlite_batcher.py): the answers, the refusals and their precedence, the
replays and the rows must be those of the general path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cagnotte.clock import ManualClock
from cagnotte.db.engine import Database
from cagnotte.ledger import Ledger
from tests.integration.ledger.test_async_entries import *  # noqa: F403
from tests.integration.ledger.test_error_precedence import *  # noqa: F403
from tests.integration.ledger.test_ledger import *  # noqa: F403


@pytest.fixture
def ledger(database: Database, clock: ManualClock, database_url: str) -> Iterator[Ledger]:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's writer (PostgreSQL runs these tests in their own files)")
    ledger = Ledger(database, clock, group_commit=True)
    ledger.open_sqlite_writer()
    yield ledger
    ledger.close_sqlite_writer()

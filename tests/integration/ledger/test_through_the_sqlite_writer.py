"""The ledger's tests again on SQLite, every entry posted alone going through the writer.

The tests of test_ledger.py, test_error_precedence.py and test_async_entries.py,
collected here once more with a ledger whose SQLite writer is open on an event
loop of its own (ledger/sqlite_batcher.py), so that every entry they post alone
(from the test's thread, as a top-up from a worker thread) goes through it: the
answers, the refusals and their precedence, the replays and the rows must be
those of the general path.
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
from tests.integration.ledger.test_sqlite_group_commit import WriterLoop


@pytest.fixture
def ledger(database: Database, clock: ManualClock, database_url: str) -> Iterator[Ledger]:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's writer (PostgreSQL runs these tests in their own files)")
    ledger = Ledger(database, clock, group_commit=True)
    with WriterLoop(ledger):
        yield ledger

"""Integration tests run on SQLite and PostgreSQL (the fixtures of tests/conftest.py)."""

from tests.e2e.api.conftest import client, mailer, operator_key, services  # noqa: F401
from tests.integration.ledger.test_ledger import books, merchant_id  # noqa: F401

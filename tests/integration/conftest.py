"""Integration tests run on SQLite and PostgreSQL (the fixtures of tests/conftest.py)."""

from tests.ledger.test_ledger import books, merchant_id  # noqa: F401

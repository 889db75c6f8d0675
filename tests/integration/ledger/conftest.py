"""The ledger tests' fixtures (defined beside the rules they were written for)."""

from tests.integration.ledger.test_ledger import books, merchant_id  # noqa: F401

"""Loyalty tests run through the API, on SQLite and PostgreSQL."""

from tests.e2e.api.conftest import (  # noqa: F401  (fixtures shared with the API tests)
    client,
    mailer,
    merchant,
    operator_key,
    other_merchant,
    server_url,
    services,
)

"""A busy or lost database is a 503 to retry, never a 500; what HTTP itself must refuse or say.

SQLite's write lock held by another connection past the busy timeout, a request
body larger than the limit, X-Forwarded-For from a proxy nobody trusts, and the
headers every answer carries.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cagnotte.api.app import create_app
from cagnotte.asgi import proxy_options
from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import Database
from cagnotte.jobs import JobScheduler
from tests.e2e.api.concurrency import running_server
from tests.e2e.api.conftest import enrol, make_merchant, top_up
from tests.e2e.web.conftest import csrf_of
from tests.queries import entries_of_key

BUSY_TIMEOUT_SECONDS = 0.2


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    return database_url


@pytest.fixture
def busy_services(sqlite_url, clock, mailer, tmp_path) -> Iterator[Services]:
    """Services whose database waits for SQLite's write lock only a moment."""
    database = Database(sqlite_url, busy_timeout_seconds=BUSY_TIMEOUT_SECONDS)
    settings = Settings(
        environment="development", database_url=database.url, outbox_dir=tmp_path / "outbox"
    )
    yield bootstrap(settings, clock=clock, mailer=mailer, database=database)
    database.dispose()


@contextmanager
def write_lock_held(sqlite_url: str) -> Iterator[None]:
    """Another connection (another process, as far as SQLite knows) holds the write lock."""
    holder = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def wallet_balance(client, merchant, customer_id) -> int:
    accounts = client.get(f"/v1/customers/{customer_id}/accounts", headers=merchant.owner).json()[
        "items"
    ]
    wallets = [a["balance"]["balance_minor"] for a in accounts if a["purpose"] == "wallet"]
    return sum(wallets)


# A busy or lost database ---------------------------------------------------------------


def test_a_write_while_sqlite_is_locked_elsewhere_is_a_503_to_retry_with_its_key(
    sqlite_url, busy_services, operator_key, caplog
):
    with TestClient(create_app(busy_services), raise_server_exceptions=False) as client:
        merchant = make_merchant(client, operator_key, "Café Bleu")
        customer = enrol(client, merchant)
        with write_lock_held(sqlite_url), caplog.at_level(logging.WARNING, "cagnotte"):
            busy = top_up(client, merchant, customer["id"], 5_000, key="top-up-1")
            also_busy = top_up(client, merchant, customer["id"], 5_000, key="top-up-2")

        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "service_unavailable"
        assert busy.headers["content-type"].startswith("application/problem+json")
        assert int(busy.headers["Retry-After"]) > 0
        assert also_busy.json()["code"] == "service_unavailable"
        # One line for the burst, and no stack trace.
        reports = [r for r in caplog.records if "database unavailable" in r.getMessage()]
        assert len(reports) == 1
        assert reports[0].exc_info is None
        assert not [r for r in caplog.records if r.exc_info]
        # Nothing was kept: the retry with the same key does it, once.
        retried = top_up(client, merchant, customer["id"], 5_000, key="top-up-1")
        assert retried.status_code == 201, retried.text
        assert wallet_balance(client, merchant, customer["id"]) == 5_000
        with busy_services.database.read() as connection:
            assert connection.execute(entries_of_key("top-up-1")).scalar() == 1


def test_a_page_while_sqlite_is_locked_elsewhere_is_a_friendly_503_page(
    sqlite_url, busy_services, operator_key
):
    with TestClient(create_app(busy_services), raise_server_exceptions=False) as client:
        merchant = make_merchant(client, operator_key, "Café Bleu")
        enrol(client, merchant, email="jana@example.com")
        form = client.get("/c/sign-in")
        with write_lock_held(sqlite_url):
            page = client.post(
                "/c/sign-in", data={"email": "jana@example.com", "csrf_token": csrf_of(form.text)}
            )

    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert int(page.headers["Retry-After"]) > 0
    assert "try again" in page.text
    assert "Traceback" not in page.text


def test_a_job_meeting_a_locked_database_warns_and_runs_again_at_the_next_tick(
    sqlite_url, busy_services, caplog
):
    scheduler = JobScheduler(busy_services, interval_seconds=3600)
    with write_lock_held(sqlite_url), caplog.at_level(logging.WARNING, "cagnotte"):
        scheduler.run_once()

    warnings = [r for r in caplog.records if r.name == "cagnotte.jobs"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "retried at the next tick" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    caplog.clear()
    with caplog.at_level(logging.WARNING, "cagnotte"):
        scheduler.run_once()
    assert [r for r in caplog.records if r.name == "cagnotte.jobs"] == []


def test_a_database_error_that_is_a_bug_is_still_a_500_logged_with_its_trace(services, caplog):
    app = create_app(services)

    @app.get("/test/broken")
    def broken() -> None:
        with services.database.read() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))

    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, "cagnotte"),
    ):
        response = client.get("/test/broken")

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert [r for r in caplog.records if r.exc_info]


# The size of a body ----------------------------------------------------------------------


def test_a_body_larger_than_the_limit_is_refused_before_it_is_read(client, merchant):
    customer = enrol(client, merchant)
    padding = "x" * (10 * 1024 * 1024)
    body = f'{{"customer_id": "{customer["id"]}", "asset": "CZK", "amount_minor": 1, '
    body += f'"reference": "{padding}"}}'

    response = client.post(
        "/v1/wallet/top-ups",
        content=body,
        headers={
            **merchant.register,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert wallet_balance(client, merchant, customer["id"]) == 0


def test_a_body_without_a_length_is_counted_as_it_comes(client, merchant):
    customer = enrol(client, merchant)

    def chunks() -> Iterator[bytes]:
        yield f'{{"customer_id": "{customer["id"]}", "asset": "CZK", "amount_minor": 1, '.encode()
        yield b'"reference": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        "/v1/wallet/top-ups",
        content=chunks(),
        headers={
            **merchant.register,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert wallet_balance(client, merchant, customer["id"]) == 0


def test_a_body_within_the_limit_is_read(client, merchant):
    customer = enrol(client, merchant)
    response = top_up(client, merchant, customer["id"], 700)
    assert response.status_code == 201
    assert wallet_balance(client, merchant, customer["id"]) == 700


def test_a_catalogue_import_may_be_larger_than_a_json_body(client, merchant):
    rows = "".join(f"SKU-{n},Product {n} {'x' * 150},2.50,CZK\n" for n in range(9_000))
    content = ("sku,name,unit_price,currency\n" + rows).encode()
    assert len(content) > Settings().request_body_bytes_max

    response = client.post(
        "/v1/catalogue/imports",
        content=content,
        headers={**merchant.manager, "Content-Type": "text/csv"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 9_000


# Headers ---------------------------------------------------------------------------------


def test_api_answers_and_problems_say_nosniff(client, merchant):
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"
    problem = client.get("/v1/stores", headers={"Authorization": "Bearer nope"})
    assert problem.status_code == 401
    assert problem.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/openapi.json").headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_is_sent_over_tls_only(services):
    app = create_app(services)
    with TestClient(app, base_url="https://cagnotte.example") as over_tls:
        assert over_tls.get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=")
    with TestClient(app, base_url="http://127.0.0.1:8000") as plain:
        assert "Strict-Transport-Security" not in plain.get("/healthz").headers


# The client's address --------------------------------------------------------------------


def _app_telling_the_client(services: Services):
    app = create_app(services)

    @app.get("/test/client")
    def client_of(request: Request) -> dict[str, str]:
        return {
            "address": request.client.host if request.client else "",
            "scheme": request.url.scheme,
        }

    return app


def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(services):
    assert services.settings.trusted_proxies == []
    app = _app_telling_the_client(services)
    with running_server(app, **proxy_options(services.settings)) as url:
        answer = httpx.get(
            f"{url}/test/client",
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        )

    assert answer.json() == {"address": "127.0.0.1", "scheme": "http"}
    assert "Strict-Transport-Security" not in answer.headers


def test_x_forwarded_for_is_believed_from_a_trusted_proxy(database, clock, mailer, tmp_path):
    settings = Settings(
        environment="development",
        database_url=database.url,
        outbox_dir=tmp_path / "outbox",
        trusted_proxies="127.0.0.1",
    )
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
    app = _app_telling_the_client(services)
    with running_server(app, **proxy_options(settings)) as url:
        answer = httpx.get(
            f"{url}/test/client",
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        )

    assert answer.json() == {"address": "203.0.113.7", "scheme": "https"}
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")

"""What an operator watches: request ids in every log line, the access log, liveness and
readiness, the Prometheus metrics, and no personal data in the logs."""

from __future__ import annotations

import io
import json
import logging
import smtplib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import Database
from cagnotte.jobs import JobScheduler
from cagnotte.logs import JsonFormatter
from tests.e2e.api.conftest import FlakyMailer, enrol, top_up


class LogLines:
    """Every log line the service writes meanwhile (JSON, as in production), parsed."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[dict]:
        for text in self.stream.getvalue().splitlines():
            line = json.loads(text)
            # The test's own HTTP client logs the URLs it calls: not the service's lines.
            if line["logger"] != "httpx":
                yield line


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield LogLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_request_id_is_taken_or_made_and_returned(client):
    given = client.get("/healthz/live", headers={"X-Request-Id": "till-7.req-42"})
    made = client.get("/healthz/live")
    # Not a token: a log line could be forged with it, so it is replaced.
    forged = client.get("/healthz/live", headers={"X-Request-Id": 'x" level=error ' + "a" * 200})

    assert given.headers["X-Request-Id"] == "till-7.req-42"
    assert len(made.headers["X-Request-Id"]) == 32
    assert forged.headers["X-Request-Id"] != made.headers["X-Request-Id"]
    assert len(forged.headers["X-Request-Id"]) == 32


def test_every_log_line_of_a_request_carries_its_id_and_the_access_line_hides_the_query(
    services, log_lines
):
    app = create_app(services)

    @app.get("/test/items/{item_id}")
    def item(item_id: str) -> dict[str, str]:
        # A handler's own line, written in a worker thread of the pool.
        logging.getLogger("cagnotte.test").info("looking item up")
        return {"item": item_id}

    with TestClient(app) as client:
        answer = client.get(
            "/test/items/card-4111?token=very-secret", headers={"X-Request-Id": "req-1"}
        )
    assert answer.status_code == 200

    of_request = [line for line in log_lines if line.get("request_id") == "req-1"]
    assert [line["logger"] for line in of_request] == ["cagnotte.test", "cagnotte.access"]
    access = of_request[-1]
    assert access["method"] == "GET" and access["route"] == "/test/items/{item_id}"
    assert access["status"] == 200 and access["duration_ms"] >= 0
    everything = json.dumps(list(log_lines))
    assert "very-secret" not in everything and "card-4111" not in everything


def test_liveness_says_the_process_is_up_and_readiness_that_the_database_answers(client):
    assert client.get("/healthz/live").json() == {"status": "ok"}
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


def test_readiness_is_a_503_problem_while_the_database_is_out_of_reach(tmp_path):
    settings = Settings(
        environment="development",
        database_url="postgresql://cagnotte@127.0.0.1:1/cagnotte",
        outbox_dir=tmp_path / "outbox",
    )
    services = bootstrap(settings, database=Database(settings.database_url))
    # Not started (no lifespan): the lifespan's pool would refuse to open at all.
    client = TestClient(create_app(services), raise_server_exceptions=False)

    ready = client.get("/healthz/ready")
    live = client.get("/healthz/live")

    assert ready.status_code == 503
    assert ready.json()["code"] == "service_unavailable"
    assert int(ready.headers["Retry-After"]) > 0
    # The process itself is fine: restarting it would not bring the database back.
    assert live.status_code == 200
    services.close()


def test_metrics_count_requests_by_route_and_status_entries_by_kind_and_job_runs(
    client, services, merchant
):
    customer = enrol(client, merchant)
    requests_before = _sample(
        "cagnotte_http_requests_total", method="POST", route="/v1/wallet/top-ups", status="201"
    )
    entries_before = sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "cagnotte_ledger_entries"
        for sample in metric.samples
        if sample.name == "cagnotte_ledger_entries_total"
    )
    runs_before = _sample("cagnotte_job_runs_total", job="holds")

    assert top_up(client, merchant, customer["id"], 1_000, key="top-up-1").status_code == 201
    # A replay moves nothing, and is not counted as an entry.
    assert top_up(client, merchant, customer["id"], 1_000, key="top-up-1").status_code == 201
    JobScheduler(services, interval_seconds=3600).run_once()
    exposition = client.get("/metrics")

    assert exposition.headers["content-type"].startswith("text/plain")
    text = exposition.text
    assert "cagnotte_http_request_duration_seconds_bucket" in text
    assert "cagnotte_database_connections_in_use" in text
    assert (
        _sample(
            "cagnotte_http_requests_total", method="POST", route="/v1/wallet/top-ups", status="201"
        )
        == requests_before + 2
    )
    entries_after = sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "cagnotte_ledger_entries"
        for sample in metric.samples
        if sample.name == "cagnotte_ledger_entries_total"
    )
    assert entries_after == entries_before + 1
    assert _sample("cagnotte_job_runs_total", job="holds") == runs_before + 1
    client.get("/no/such/page")
    assert (
        _sample("cagnotte_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    )


class RefusingMailer(FlakyMailer):
    def send(self, message) -> None:
        raise smtplib.SMTPRecipientsRefused({message["To"]: (550, b"no such mailbox")})


def test_no_customer_e_mail_reaches_the_log(database, clock, tmp_path, log_lines):
    """The development mailer logged each recipient; a refused mail's warning named it too."""
    settings = Settings(
        environment="development", database_url=database.url, outbox_dir=tmp_path / "outbox"
    )
    # The development mailer (files), then an SMTP server refusing the recipient.
    for mailer in (None, RefusingMailer()):
        services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
        with TestClient(create_app(services)) as client:
            if mailer is None:
                operator = {"Authorization": f"Bearer {services.merchants.ensure_operator_key()}"}
                created = client.post("/v1/merchants", json={"name": "Café"}, headers=operator)
                owner = {"Authorization": f"Bearer {created.json()['owner_key']['secret']}"}
                enrolled = client.post(
                    "/v1/customers",
                    json={"phone": "+420601123456", "email": "jana.novakova@example.com"},
                    headers=owner,
                )
                assert enrolled.status_code == 201, enrolled.text
            asked = client.post(
                "/v1/customer-sign-in/codes", json={"email": "jana.novakova@example.com"}
            )
            assert asked.status_code == 202, asked.text
            services.outbox.deliver_due()
        clock.advance(timedelta(days=1))

    assert any("mail" in line["message"] for line in log_lines)
    assert any("SMTPRecipientsRefused" in line["message"] for line in log_lines)
    assert "jana.novakova" not in json.dumps(list(log_lines))

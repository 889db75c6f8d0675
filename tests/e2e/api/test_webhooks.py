"""Webhooks: endpoints, events written with the work, signed deliveries retried to a receiver."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from cagnotte.db.engine import Database
from cagnotte.outbox import Delivered, Outbox
from cagnotte.outbox.tables import outbox_messages
from cagnotte.webhooks import signing
from cagnotte.webhooks.service import WebhookService, emit
from cagnotte.webhooks.tables import webhook_events
from tests.e2e.api.conftest import MerchantSetup, enrol, top_up


class Receiver:
    """A merchant's system on loopback: answers 500 to the first `failures` tries of each event."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        # The ids of the events answered 2xx, in order.
        self.accepted: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                event_id = headers["webhook-id"]
                with receiver.lock:
                    receiver.requests.append((headers, body))
                    tries = [seen["webhook-id"] for seen, _ in receiver.requests].count(event_id)
                    failing = tries <= receiver.failures
                    if not failing:
                        receiver.accepted.append(event_id)
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(failures=2)
    yield receiver
    receiver.close()


def register_endpoint(
    client: TestClient, merchant: MerchantSetup, url: str, events: list[str] | None = None
) -> dict:
    response = client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": events or ["*"]},
        headers=merchant.manager,
    )
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client: TestClient, merchant: MerchantSetup, endpoint_id: str) -> list[dict]:
    response = client.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=merchant.manager
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def deliver_until_quiet(services: Services, rounds: int = 6) -> None:
    """Run the job, then move past the back-off, as many times as it takes."""
    for _ in range(rounds):
        services.outbox.deliver_due()
        services.clock.advance(timedelta(hours=1))


def test_a_payment_arrives_once_signed_after_two_failures_and_the_log_shows_them(
    client, services, merchant, receiver
):
    endpoint = register_endpoint(client, merchant, receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 50_000).status_code == 201
    services.clock.advance(timedelta(seconds=1))
    payment = client.post(
        "/v1/payments",
        json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 12_000},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert payment.status_code == 201, payment.text

    deliver_until_quiet(services)

    # Two events (the top-up, the payment), each tried three times, each taken once.
    assert len(receiver.requests) == 6
    assert len(receiver.accepted) == 2 and len(set(receiver.accepted)) == 2
    for headers, body in receiver.requests:
        assert signing.verify(
            endpoint["secret"],
            headers["webhook-id"],
            int(headers["webhook-timestamp"]),
            body,
            headers["webhook-signature"],
        )
    bodies = {}
    for headers, body in receiver.requests:
        # Every retry of an event carries its id and the same bytes.
        assert bodies.setdefault(headers["webhook-id"], body) == body
    paid = next(json.loads(b) for b in bodies.values() if json.loads(b)["type"] == "wallet.payment")
    assert paid["id"] in receiver.accepted
    assert paid["data"]["amount_minor"] == 12_000
    assert paid["data"]["entry_id"] == payment.json()["id"]

    log = deliveries(client, merchant, endpoint["id"])
    assert [d["event_type"] for d in log] == ["wallet.payment", "wallet.top_up"]
    assert all(d["status"] == "delivered" for d in log)
    topped = log[1]
    assert [(a["attempt"], a["status_code"]) for a in topped["attempts"]] == [
        (1, 500),
        (2, 500),
        (3, 204),
    ]
    assert topped["attempts"][0]["error"] == "HTTP 500"
    assert topped["event_id"] in receiver.accepted


def test_a_wrong_secret_does_not_verify(client, services, merchant):
    receiver = Receiver()
    try:
        endpoint = register_endpoint(client, merchant, receiver.url)
        customer = enrol(client, merchant)
        top_up(client, merchant, customer["id"], 1_000)
        deliver_until_quiet(services, rounds=1)
        headers, body = receiver.requests[0]
        other = signing.new_secret()
        assert other != endpoint["secret"]
        assert not signing.verify(
            other,
            headers["webhook-id"],
            int(headers["webhook-timestamp"]),
            body,
            headers["webhook-signature"],
        )
    finally:
        receiver.close()


def test_a_refused_payment_emits_nothing(client, services, merchant, receiver):
    endpoint = register_endpoint(client, merchant, receiver.url)
    customer = enrol(client, merchant)
    refused = client.post(
        "/v1/payments",
        json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 12_000},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert refused.json()["code"] == "insufficient_funds"
    with services.database.read() as connection:
        assert connection.execute(select(func.count()).select_from(webhook_events)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(outbox_messages)).scalar() == 0
    deliver_until_quiet(services, rounds=1)
    assert receiver.requests == []
    assert deliveries(client, merchant, endpoint["id"]) == []


def test_only_the_events_an_endpoint_wants_are_sent_to_it(client, services, merchant, receiver):
    receiver.failures = 0
    endpoint = register_endpoint(client, merchant, receiver.url, ["wallet.payment"])
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 5_000)
    deliver_until_quiet(services, rounds=1)
    assert receiver.requests == []
    assert deliveries(client, merchant, endpoint["id"]) == []


def test_a_manual_resend_carries_the_same_event_id(client, services, merchant, receiver):
    receiver.failures = 0
    endpoint = register_endpoint(client, merchant, receiver.url)
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 5_000)
    deliver_until_quiet(services, rounds=1)
    first = deliveries(client, merchant, endpoint["id"])[0]

    resent = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{first['id']}/resend",
        headers=merchant.manager,
    )
    assert resent.status_code == 201, resent.text
    assert resent.json()["status"] == "pending"
    deliver_until_quiet(services, rounds=1)

    assert [h["webhook-id"] for h, _ in receiver.requests] == [first["event_id"]] * 2
    log = deliveries(client, merchant, endpoint["id"])
    assert [d["status"] for d in log] == ["delivered", "delivered"]


def test_an_event_waiting_at_a_restart_is_delivered_by_the_next_process(
    client, services, merchant, receiver, mailer, tmp_path
):
    receiver.failures = 0
    register_endpoint(client, merchant, receiver.url)
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 5_000)
    # The process ends before its job ran; another one starts on the same database.
    settings = Settings(
        environment="development",
        database_url=services.database.url,
        outbox_dir=tmp_path / "outbox",
    )
    restarted = bootstrap(settings, clock=services.clock, mailer=mailer)
    try:
        deliver_until_quiet(restarted, rounds=2)
    finally:
        restarted.close()
    assert len(receiver.requests) == 1


def test_a_deleted_endpoint_gets_nothing_more(client, services, merchant, receiver):
    endpoint = register_endpoint(client, merchant, receiver.url)
    customer = enrol(client, merchant)
    top_up(client, merchant, customer["id"], 5_000)
    services.outbox.deliver_due()  # the first attempt fails
    assert (
        client.delete(
            f"/v1/webhook-endpoints/{endpoint['id']}", headers=merchant.manager
        ).status_code
        == 204
    )
    deliver_until_quiet(services)
    assert len(receiver.requests) == 1
    assert (
        client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=merchant.manager).json()[
            "code"
        ]
        == "not_found"
    )


def test_endpoints_are_listed_updated_and_their_secret_rotated(client, merchant):
    endpoint = register_endpoint(client, merchant, "https://hooks.example.com/cagnotte")
    listed = client.get("/v1/webhook-endpoints", headers=merchant.manager).json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    changed = client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}",
        json={"events": ["check.committed"], "active": False},
        headers=merchant.manager,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["check.committed"]
    assert changed.json()["active"] is False
    rotated = client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/secret", headers=merchant.manager
    )
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (endpoint["secret"], None)


@pytest.mark.parametrize(
    ("url", "events", "code"),
    [
        ("ftp://example.com/x", ["*"], "webhook_url_invalid"),
        ("not a url", ["*"], "webhook_url_invalid"),
        ("https://user:pw@example.com/x", ["*"], "webhook_url_invalid"),
        ("https://example.com/x", ["wallet.stolen"], "webhook_event_unknown"),
    ],
)
def test_bad_endpoints_are_refused(client, merchant, url, events, code):
    response = client.post(
        "/v1/webhook-endpoints", json={"url": url, "events": events}, headers=merchant.manager
    )
    assert response.status_code == 422
    assert response.json()["code"] == code


def test_a_cashier_may_not_register_an_endpoint(client, merchant):
    response = client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://example.com/x", "events": ["*"]},
        headers=merchant.register,
    )
    assert response.json()["code"] == "forbidden"


def test_another_merchants_endpoint_looks_like_none(client, merchant, other_merchant):
    endpoint = register_endpoint(client, merchant, "https://hooks.example.com/a")
    for method, path in [
        ("get", f"/v1/webhook-endpoints/{endpoint['id']}"),
        ("get", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"),
        ("post", f"/v1/webhook-endpoints/{endpoint['id']}/secret"),
        ("delete", f"/v1/webhook-endpoints/{endpoint['id']}"),
        ("post", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{uuid.uuid4()}/resend"),
    ]:
        response = client.request(method, path, headers=other_merchant.manager)
        assert response.status_code == 404, (path, response.text)
    assert client.get("/v1/webhook-endpoints", headers=other_merchant.manager).json()["items"] == []


def events_received(receiver: Receiver) -> list[dict]:
    """The events received, in the order they happened (deliveries keep no order)."""
    return sorted(
        (json.loads(body) for _, body in receiver.requests), key=lambda event: event["timestamp"]
    )


def test_gift_card_operations_are_told_with_their_amounts(client, services, merchant, receiver):
    from tests.e2e.gift_cards.conftest import activate, create_program, new_cards, spend

    receiver.failures = 0
    register_endpoint(client, merchant, receiver.url, ["gift_card.operation"])
    (card,) = new_cards(client, merchant, create_program(client, merchant), 1)
    assert activate(client, merchant, card, 10_000).status_code == 201
    assert spend(client, merchant, card, 2_500).status_code == 201
    deliver_until_quiet(services, rounds=1)
    told = events_received(receiver)
    assert [e["type"] for e in told] == ["gift_card.operation"] * 2
    assert {e["data"]["kind"] for e in told} >= {"spend"}
    (spent,) = [e["data"] for e in told if e["data"]["kind"] == "spend"]
    assert spent["amount_minor"] == 2_500
    assert spent["balance_after_minor"] == 7_500
    assert spent["card_id"] == card.id
    # Nothing of the card's secrets travels.
    assert all(card.number not in json.dumps(e) for e in told)


def test_a_check_committed_and_refunded_is_told(client, services, merchant, receiver):
    receiver.failures = 0
    register_endpoint(client, merchant, receiver.url, ["check.committed", "check.refunded"])
    lines = [{"sku": "CAKE", "quantity": 1, "unit_price_minor": 11_990}]
    committed = client.post(
        "/v1/checks",
        json={"currency": "CZK", "lines": lines},
        headers={**merchant.register, "Idempotency-Key": "check-1"},
    )
    assert committed.status_code == 201, committed.text
    # A retry of the commit replays it and tells nothing more.
    client.post(
        "/v1/checks",
        json={"currency": "CZK", "lines": lines},
        headers={**merchant.register, "Idempotency-Key": "check-1"},
    )
    services.clock.advance(timedelta(seconds=1))
    refunded = client.post(
        f"/v1/checks/{committed.json()['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "refund-1"},
    )
    assert refunded.status_code == 201, refunded.text
    deliver_until_quiet(services, rounds=1)
    told = events_received(receiver)
    assert [e["type"] for e in told] == ["check.committed", "check.refunded"]
    assert told[0]["data"]["id"] == committed.json()["id"]
    assert told[1]["data"]["money_back_minor"] == refunded.json()["money_back_minor"] == 11_990


def test_parallel_job_runners_deliver_each_event_exactly_once(client, services, merchant, receiver):
    """Four runners (engines of their own, as four worker processes) share 40 deliveries."""
    receiver.failures = 0
    register_endpoint(client, merchant, receiver.url)
    merchant_id = uuid.UUID(merchant.id)
    with services.database.transaction() as connection:
        emitted = [
            emit(
                connection,
                merchant_id,
                "wallet.top_up",
                {"number": number},
                now=services.clock.now(),
            )
            for number in range(40)
        ]
    runners = []
    for _ in range(4):
        database = Database(services.database.url, pool_size=2)
        runner = Outbox(database, services.clock, services.mailer)
        WebhookService(database, services.clock, development=True).register(runner)
        runners.append(runner)
    start = threading.Barrier(len(runners))
    done: list[Delivered] = [Delivered() for _ in runners]
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            done[index] = runners[index].deliver_due()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(runners))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert failures == []
        assert Counter(receiver.accepted) == Counter({str(event_id): 1 for event_id in emitted})
        assert len(receiver.requests) == 40
        assert sum(result.sent for result in done) == 40
        assert sum(result.lost_claims for result in done) == 0
    finally:
        for runner in runners:
            runner.database.dispose()


def test_an_alert_raised_is_told(client, services, merchant, receiver):
    from tests.e2e.gift_cards.conftest import activate, create_program, new_cards

    receiver.failures = 0
    register_endpoint(client, merchant, receiver.url, ["alert.raised"])
    made = client.post(
        "/v1/gift-card-alert-rules",
        json={"kind": "large_load", "threshold_minor": 20_000},
        headers=merchant.manager,
    )
    assert made.status_code == 201, made.text
    (card,) = new_cards(client, merchant, create_program(client, merchant), 1)
    assert activate(client, merchant, card, 25_000).status_code == 201
    deliver_until_quiet(services, rounds=1)
    (alert,) = events_received(receiver)
    assert alert["type"] == "alert.raised"
    assert alert["data"]["kind"] == "large_load"
    assert alert["data"]["card_id"] == card.id

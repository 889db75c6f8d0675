"""API fixtures: the app over a fresh database, an operator, and a merchant with a register."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cagnotte.api.app import create_app
from cagnotte.bootstrap import Services, bootstrap
from cagnotte.config import Settings
from cagnotte.outbox import Delivered, Outbox


class RecordingMailer:
    """Keeps what the outbox sends, for tests to read.

    Mail is owed by the requests and sent by the job: reading `sent` first
    delivers what the outbox holds due (`deliver_outbox`), as the job would have
    by then, so a test reads the mail a request owes without running the jobs.
    """

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.outbox: Outbox | None = None

    def send(self, message: Any) -> None:
        self.messages.append(message)

    @property
    def sent(self) -> list[Any]:
        if self.outbox is not None:
            self.outbox.deliver_due()
        return self.messages


class FlakyMailer(RecordingMailer):
    """A RecordingMailer whose server refuses every message while `down` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def send(self, message: Any) -> None:
        if self.down:
            raise ConnectionRefusedError("SMTP server down")
        super().send(message)


def deliver_outbox(services: Services) -> Delivered:
    """Deliver the outbox's due mail now, as the job does (for a mailer of the test's own)."""
    return services.outbox.deliver_due()


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def services(database, clock, mailer, tmp_path) -> Iterator[Services]:
    settings = Settings(
        environment="development", database_url=database.url, outbox_dir=tmp_path / "outbox"
    )
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
    mailer.outbox = services.outbox
    yield services


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def operator_key(services: Services) -> str:
    key = services.merchants.ensure_operator_key()
    assert key is not None
    return key


@dataclass
class MerchantSetup:
    id: str
    owner_key: str
    store_id: str
    register_id: str
    register_key: str
    manager_key: str

    @property
    def owner(self) -> dict[str, str]:
        return bearer(self.owner_key)

    @property
    def register(self) -> dict[str, str]:
        return bearer(self.register_key)

    @property
    def manager(self) -> dict[str, str]:
        return bearer(self.manager_key)


def make_merchant(client: TestClient, operator_key: str, name: str) -> MerchantSetup:
    response = client.post("/v1/merchants", json={"name": name}, headers=bearer(operator_key))
    assert response.status_code == 201, response.text
    merchant = response.json()
    owner = bearer(merchant["owner_key"]["secret"])
    store = client.post("/v1/stores", json={"name": f"{name} main"}, headers=owner).json()
    register = client.post(
        "/v1/terminals",
        json={"store_id": store["id"], "kind": "register", "name": "Till 1"},
        headers=owner,
    ).json()
    manager = client.post(
        "/v1/api-keys", json={"name": "manager", "role": "manager"}, headers=owner
    ).json()
    return MerchantSetup(
        id=merchant["id"],
        owner_key=merchant["owner_key"]["secret"],
        store_id=store["id"],
        register_id=register["id"],
        register_key=register["api_key"]["secret"],
        manager_key=manager["secret"],
    )


@pytest.fixture
def merchant(client: TestClient, operator_key: str) -> MerchantSetup:
    return make_merchant(client, operator_key, "Café Bleu")


@pytest.fixture
def other_merchant(client: TestClient, operator_key: str) -> MerchantSetup:
    return make_merchant(client, operator_key, "Rival Bakery")


def enrol(client: TestClient, merchant: MerchantSetup, phone: str = "+420601123456", **extra):
    response = client.post(
        "/v1/customers", json={"phone": phone, **extra}, headers=merchant.register
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def top_up(
    client: TestClient,
    merchant: MerchantSetup,
    customer_id: str,
    amount: int,
    asset: str = "CZK",
    key: str | None = None,
):
    # Every value-moving POST needs a key: a fresh one unless the test names it.
    headers = {**merchant.register, "Idempotency-Key": key or str(uuid.uuid4())}
    return client.post(
        "/v1/wallet/top-ups",
        json={"customer_id": customer_id, "asset": asset, "amount_minor": amount},
        headers=headers,
    )


from tests.e2e.api.concurrency import server_url  # noqa: E402, F401  (a fixture)

"""Gift card fixtures: the API app (from tests/api), a program, cards and helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.api.conftest import (  # noqa: F401 - fixtures shared with the API tests
    MerchantSetup,
    bearer,
    client,
    mailer,
    make_merchant,
    merchant,
    operator_key,
    other_merchant,
    server_url,
    services,
)

PROGRAM = {
    "name": "Café Bleu gift card",
    "asset": "CAD",
    "load_min_minor": 500,
    "load_max_minor": 50_000,
    "balance_max_minor": 100_000,
    "pin_attempts_max": 3,
    "pin_lockout_minutes": 30,
}


def create_program(client: TestClient, merchant: MerchantSetup, **settings: Any) -> dict:
    response = client.post(
        "/v1/gift-card-programs", json={**PROGRAM, **settings}, headers=merchant.manager
    )
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class Card:
    id: str
    number: str
    pin: str | None


def new_cards(client: TestClient, merchant: MerchantSetup, program: dict, count: int) -> list[Card]:
    """A printed batch of inactive cards, exported (numbers and PINs) once."""
    batch = client.post(
        f"/v1/gift-card-programs/{program['id']}/batches",
        json={"card_count": count},
        headers=merchant.manager,
    )
    assert batch.status_code == 201, batch.text
    export = client.post(
        f"/v1/gift-card-batches/{batch.json()['id']}/export", headers=merchant.manager
    )
    assert export.status_code == 200, export.text
    lines = export.text.strip().splitlines()[1:]
    cards = []
    for line in lines:
        _sequence, card_id, number, pin = line.split(",")
        cards.append(Card(id=card_id, number=number, pin=pin or None))
    return cards


def post(client: TestClient, path: str, body: dict, headers: dict, key: str | None = None):
    # Every value-moving POST needs a key: a fresh one unless the test names it.
    headers = {**headers, "Idempotency-Key": key or str(uuid.uuid4())}
    return client.post(path, json=body, headers=headers)


def activate(client, merchant, card: Card, amount: int | None = 10_000, **extra):
    body = {"number": card.number, **extra}
    if amount is not None:
        body["amount_minor"] = amount
    return post(client, "/v1/gift-cards/activations", body, merchant.register)


def load(client, merchant, card: Card, amount: int, **extra):
    return post(
        client,
        "/v1/gift-cards/loads",
        {"number": card.number, "amount_minor": amount, **extra},
        merchant.register,
    )


def spend(client, merchant, card: Card, amount: int, pin: str | None = "use card", **extra):
    body = {"number": card.number, "amount_minor": amount, **extra}
    body["pin"] = card.pin if pin == "use card" else pin
    if body["pin"] is None:
        del body["pin"]
    key = extra.pop("key", None)
    if key:
        body.pop("key")
    return post(client, "/v1/gift-cards/spends", body, merchant.register, key)


def balance(client, merchant, card: Card) -> int:
    response = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager)
    assert response.status_code == 200, response.text
    return response.json()["balance_minor"]


@pytest.fixture
def program(client, merchant) -> dict:
    return create_program(client, merchant)


@pytest.fixture
def card(client, merchant, program) -> Card:
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, 10_000).status_code == 201
    return card

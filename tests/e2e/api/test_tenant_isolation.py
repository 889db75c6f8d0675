"""Tenant isolation: a merchant never reaches another merchant's data, on any route.

Merchant A has a customer with a wallet, a payment, a store, a terminal, staff,
API keys and an asset of its own, gift cards (a program, batches, a card with a
spend and a hold, an alert rule, a reseller), a funded bonus campaign and a
catalogue (categories, a members-only product).
Merchant B, with every key it has, tries each route of the OpenAPI on A's
objects: it gets the same answer as for an object that does not exist (404, or
the one gift_card_invalid of the register), so it learns nothing; its lists hold
nothing of A; and every row of A in every table is the same afterwards.
Customer routes are tried with another customer's session.

ROUTE_CHECKS must name every operation of the OpenAPI (or PUBLIC_OPERATIONS say
why it is public): a new route fails test_every_route_is_checked_… until it is
given a check here.
"""

from __future__ import annotations

import csv
import io
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cagnotte.bootstrap import Services
from cagnotte.db import schema
from cagnotte.db.tables import (
    api_keys,
    customers,
    memberships,
    staff,
    stores,
    terminals,
    transfers,
)
from cagnotte.webhooks.service import emit
from tests.e2e.api.conftest import MerchantSetup, bearer, enrol, top_up

PROBLEM = "application/problem+json"
ALICE_PHONE = "+420601123456"
ALICE_EMAIL = "alice@example.com"
BOB_PHONE = "+420602222333"
BOB_EMAIL = "bob@example.com"
ALPHA_SKU = "ALPHA-ESPRESSO"

# Routes anyone may call: health, and the customer sign-in (which reveals nothing).
PUBLIC_OPERATIONS = {
    ("GET", "/healthz"),
    # A signed token names the member and channel: tests/e2e/loyalty/test_consents.py
    # shows a forged or altered one refused.
    ("POST", "/v1/unsubscribe/{token}"),
    ("POST", "/v1/customer-sign-in/codes"),
    ("POST", "/v1/customer-sign-in/sessions"),
}


# The world -------------------------------------------------------------------


@dataclass
class World:
    """Merchant A's objects, merchant B's keys, and two signed-in customers."""

    client: TestClient
    services: Services
    a: MerchantSetup
    b: MerchantSetup
    ids: dict[str, str]
    alice_session: str
    bob_session: str
    bob_account_id: str
    # B's own objects, which B names in its attempts on A's.
    own: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def aimed_ids(self) -> dict[str, str]:
        return {**self.ids, **self.own}

    def random_ids(self) -> dict[str, str]:
        """An id of the same shape for each of A's objects, naming nothing."""
        fake: dict[str, str] = {}
        for name, value in self.ids.items():
            if name.endswith(("_number", "_pin")):
                fake[name] = "".join(random.choice("0123456789") for _ in value)
            elif name == "file_format":
                fake[name] = value
            else:
                fake[name] = str(uuid.uuid4())
        return {**fake, **self.own}

    def path(self, template: str, ids: dict[str, str] | None = None) -> str:
        return template.format(**(ids if ids is not None else self.aimed_ids()))


def sign_in_customer(client: TestClient, mailer: Any, email: str) -> str:
    """Ask for a one-time code, read it from the mail, and open a session."""
    sent_before = len(mailer.sent)
    asked = client.post("/v1/customer-sign-in/codes", json={"email": email})
    assert asked.status_code == 202, asked.text
    assert len(mailer.sent) == sent_before + 1
    message = mailer.sent[-1]
    assert message["To"] == email
    code = re.search(r"\b(\d{6})\b", message.get_content()).group(1)
    session = client.post("/v1/customer-sign-in/sessions", json={"email": email, "code": code})
    assert session.status_code == 201, session.text
    return session.json()["token"]


def build_world(
    client, services, mailer, a: MerchantSetup, b: MerchantSetup, operator_key: str
) -> World:
    alice = enrol(client, a, ALICE_PHONE, email=ALICE_EMAIL, first_name="Alice")
    assert top_up(client, a, alice["id"], 1_000, key="top-up-1").status_code == 201
    payment = client.post(
        "/v1/payments",
        json={"customer_id": alice["id"], "asset": "CZK", "amount_minor": 300},
        headers={**a.register, "Idempotency-Key": "pay-1"},
    )
    assert payment.status_code == 201, payment.text
    spare_key = client.post(
        "/v1/api-keys", json={"name": "spare till key", "role": "cashier"}, headers=a.owner
    ).json()
    anna = client.post(
        "/v1/staff",
        json={"email": "anna@cafe-bleu.example", "name": "Anna Staffer", "role": "cashier"},
        headers=a.owner,
    ).json()
    asset = client.post(
        "/v1/assets",
        json={"code": "ALPHA_POINTS", "scale": 0, "name": "Alpha points"},
        headers=a.owner,
    )
    assert asset.status_code == 201, asset.text
    # Bob is another customer (of B), with a wallet of his own.
    bob = enrol(client, b, BOB_PHONE, email=BOB_EMAIL, first_name="Bob", last_name="Builder")
    bob_top_up = top_up(client, b, bob["id"], 500)
    assert bob_top_up.status_code == 201
    world = World(
        client=client,
        services=services,
        a=a,
        b=b,
        ids={
            "merchant_id": a.id,
            "customer_id": alice["id"],
            "account_id": payment.json()["wallet_account_id"],
            "payment_id": payment.json()["id"],
            "store_id": a.store_id,
            "terminal_id": a.register_id,
            "key_id": spare_key["id"],
            "staff_id": anna["id"],
            "platform_account_id": platform_account_of(services, alice["id"]),
        },
        alice_session=sign_in_customer(client, mailer, ALICE_EMAIL),
        bob_session=sign_in_customer(client, mailer, BOB_EMAIL),
        bob_account_id=bob_top_up.json()["wallet_account_id"],
    )
    world.own = {"bob_id": bob["id"], "bob_merchant_id": b.id}
    add_gift_cards(world)
    add_bonus_campaign(world, operator_key)
    add_loyalty_program(world)
    add_catalogue(world)
    add_webhook_endpoint(world)
    add_segment(world)
    # Strings that must never show in anything B (or Bob) reads (not the short PINs,
    # which may turn up by chance inside any id).
    world.secrets = [
        value for name, value in world.ids.items() if not name.endswith(("_pin", "format"))
    ] + [
        "Alice",
        ALICE_EMAIL,
        "anna@cafe-bleu.example",
        "ALPHA_POINTS",
        "spare till key",
        "Café Bleu",
        "Alpha gift card",
        "Alpha spring bonus",
        "Alpha Mall",
        "Alpha points",
        "ALPHA-LATTE",
        "Alpha welcome",
        "Alpha drinks",
        "Alpha hot drinks",
        "Alpha espresso",
    ]
    return world


def platform_account_of(services: Services, membership_id: str) -> str:
    """The platform account (customer identity) behind a membership."""
    with services.database.read() as connection:
        return str(
            connection.execute(
                select(memberships.c.customer_id).where(
                    memberships.c.id == uuid.UUID(membership_id)
                )
            ).scalar_one()
        )


def add_gift_cards(world: World) -> None:
    """A's gift card program, a printed batch (one card active, registered to Alice, with a
    spend and an open authorisation), an unexported batch, an alert rule and a reseller."""
    client, a = world.client, world.a
    program = client.post(
        "/v1/gift-card-programs",
        headers=a.manager,
        json={
            "name": "Alpha gift card",
            "asset": "CAD",
            "load_min_minor": 500,
            "load_max_minor": 50_000,
            "balance_max_minor": 100_000,
        },
    )
    assert program.status_code == 201, program.text
    program_id = program.json()["id"]
    batch = client.post(
        f"/v1/gift-card-programs/{program_id}/batches", json={"card_count": 3}, headers=a.manager
    ).json()
    export = client.post(f"/v1/gift-card-batches/{batch['id']}/export", headers=a.manager)
    assert export.status_code == 200, export.text
    cards = list(csv.DictReader(io.StringIO(export.text)))
    card, inactive, spare = cards
    for active in (card, spare):
        activated = client.post(
            "/v1/gift-cards/activations",
            headers={**a.register, "Idempotency-Key": str(uuid.uuid4())},
            json={"number": active["number"], "amount_minor": 10_000},
        )
        assert activated.status_code == 201, activated.text
    registered = client.post(
        "/v1/gift-cards/registrations",
        headers=a.register,
        json={
            "customer_id": world.ids["customer_id"],
            "number": card["number"],
            "pin": card["pin"],
        },
    )
    assert registered.status_code == 201, registered.text
    spend = client.post(
        "/v1/gift-cards/spends",
        headers={**a.register, "Idempotency-Key": str(uuid.uuid4())},
        json={"number": card["number"], "pin": card["pin"], "amount_minor": 1_000},
    )
    assert spend.status_code == 201, spend.text
    hold = client.post(
        "/v1/gift-cards/authorisations",
        headers={**a.register, "Idempotency-Key": str(uuid.uuid4())},
        json={"number": card["number"], "pin": card["pin"], "amount_minor": 700},
    )
    assert hold.status_code == 201, hold.text
    unexported = client.post(
        f"/v1/gift-card-programs/{program_id}/batches", json={"card_count": 2}, headers=a.manager
    ).json()
    rule = client.post(
        "/v1/gift-card-alert-rules",
        headers=a.manager,
        json={"kind": "large_load", "threshold_minor": 40_000},
    )
    assert rule.status_code == 201, rule.text
    reseller = client.post(
        "/v1/gift-card-resellers",
        headers=a.owner,
        json={"name": "Alpha Mall", "program_ids": [program_id]},
    )
    assert reseller.status_code == 201, reseller.text
    # An e-card, whose mail is still owed (and whose issuing key B will try).
    ecard = client.post(
        "/v1/gift-cards/e-cards",
        headers={**a.register, "Idempotency-Key": "alpha-ecard-1"},
        json={
            "program_id": program_id,
            "amount_minor": 5_000,
            "recipient_email": "alpha-friend@example.com",
        },
    )
    assert ecard.status_code == 201, ecard.text
    world.ids.update(
        {
            "program_id": program_id,
            "batch_id": unexported["id"],
            "card_id": card["card_id"],
            "card_number": card["number"],
            "card_pin": card["pin"],
            "inactive_card_number": inactive["number"],
            "spare_card_number": spare["number"],
            "spend_id": spend.json()["id"],
            "authorisation_id": hold.json()["id"],
            "rule_id": rule.json()["id"],
            "reseller_id": reseller.json()["id"],
            "ecard_id": ecard.json()["card"]["id"],
            "ecard_key": "alpha-ecard-1",
        }
    )


def add_bonus_campaign(world: World, operator_key: str) -> None:
    """A's bonus campaign, funded by a bank payment the operator records."""
    client, a = world.client, world.a
    now = world.services.clock.now()
    campaign = client.post(
        "/v1/bonus-campaigns",
        headers=a.owner,
        json={
            "name": "Alpha spring bonus",
            "asset": "CZK",
            "bonus_value_minor": 20_000,
            "code_count": 3,
            "valid_from": (now - timedelta(hours=1)).isoformat(),
            "valid_to": (now + timedelta(days=30)).isoformat(),
            "notify_email": "office@cafe-bleu.example",
        },
    )
    assert campaign.status_code == 201, campaign.text
    paid = client.post(
        "/v1/bank-payments",
        headers={**bearer(operator_key), "Idempotency-Key": str(uuid.uuid4())},
        json={
            "asset": "CZK",
            "amount_minor": 60_000,
            "variable_symbol": campaign.json()["funding"]["variable_symbol"],
        },
    )
    assert paid.status_code == 201, paid.text
    world.ids.update(
        {
            "campaign_id": campaign.json()["id"],
            "bank_payment_id": paid.json()["id"],
            "file_format": "csv",
            "payout_id": str(uuid.uuid4()),
        }
    )


def add_loyalty_program(world: World) -> None:
    """A's points program, and a check of Alice's that earned points."""
    program = world.client.post(
        "/v1/loyalty-programs",
        headers=world.a.manager,
        json={"kind": "points", "name": "Alpha points", "currency": "CZK"},
    )
    assert program.status_code == 201, program.text
    check = world.client.post(
        "/v1/checks",
        headers={**world.a.register, "Idempotency-Key": "check-1"},
        json={
            "currency": "CZK",
            "customer_id": world.ids["customer_id"],
            "lines": [{"sku": "ALPHA-LATTE", "quantity": 2, "unit_price_minor": 6_000}],
        },
    )
    assert check.status_code == 201, check.text
    rule = world.client.post(
        f"/v1/loyalty-programs/{program.json()['id']}/rules",
        headers=world.a.manager,
        json={"name": "Alpha welcome", "benefit": {"kind": "fixed_bonus", "units": 5}},
    )
    assert rule.status_code == 201, rule.text
    world.ids.update(
        loyalty_program_id=program.json()["id"],
        check_id=check.json()["id"],
        loyalty_rule_id=rule.json()["id"],
    )


def add_catalogue(world: World) -> None:
    """A's categories Alpha drinks / Alpha hot drinks, and a members-only product in them.

    The product's SKU is not among the secrets: B uses it for a product of its own.
    """
    client, a = world.client, world.a
    drinks = client.post(
        "/v1/catalogue/categories", json={"name": "Alpha drinks"}, headers=a.manager
    )
    assert drinks.status_code == 201, drinks.text
    hot = client.post(
        "/v1/catalogue/categories",
        headers=a.manager,
        json={"name": "Alpha hot drinks", "parent_id": drinks.json()["id"]},
    )
    assert hot.status_code == 201, hot.text
    product = client.post(
        "/v1/catalogue/products",
        headers=a.manager,
        json={
            "sku": ALPHA_SKU,
            "name": "Alpha espresso",
            "unit_price_minor": 250,
            "currency": "CZK",
            "category_id": hot.json()["id"],
            "members_only": True,
        },
    )
    assert product.status_code == 201, product.text
    world.ids.update({"category_id": hot.json()["id"], "product_id": product.json()["id"]})


def add_segment(world: World) -> None:
    """A's segment of its customers with a wallet payment (Alice is in it)."""
    segment = world.client.post(
        "/v1/segments",
        json={"name": "Alpha regulars", "definition": {"visits_min": 0}},
        headers=world.a.manager,
    )
    assert segment.status_code == 201, segment.text
    world.ids["segment_id"] = segment.json()["id"]
    campaign = world.client.post(
        "/v1/campaigns",
        json={
            "name": "Alpha news",
            "segment_id": world.ids["segment_id"],
            "subject": "Hello {{ first_name }}",
            "body": "News from {{ merchant }}.",
        },
        headers=world.a.manager,
    )
    assert campaign.status_code == 201, campaign.text
    world.ids["campaign_id"] = campaign.json()["id"]


def add_webhook_endpoint(world: World) -> None:
    """A's webhook endpoint, and a delivery to it (of an event written here, not yet sent)."""
    client, a = world.client, world.a
    endpoint = client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/alpha-hooks", "events": ["*"]},
        headers=a.manager,
    )
    assert endpoint.status_code == 201, endpoint.text
    with world.services.database.transaction() as connection:
        emit(
            connection,
            uuid.UUID(a.id),
            "wallet.top_up",
            {"customer_id": world.ids["customer_id"], "amount_minor": 100},
            now=world.services.clock.now(),
        )
    (delivery,) = client.get(
        f"/v1/webhook-endpoints/{endpoint.json()['id']}/deliveries", headers=a.manager
    ).json()["items"]
    world.ids.update(
        {
            "endpoint_id": endpoint.json()["id"],
            "delivery_id": delivery["id"],
            "webhook_secret": endpoint.json()["secret"],
        }
    )


def snapshot(world: World) -> dict[str, Any]:
    """Every row of A in every table (and the identities of A's customers): must not change.

    Read from the database, so that nothing escapes: balances, statuses, PIN failures,
    exports, revocations, whatever a new package stores.
    """
    merchant_id = uuid.UUID(world.a.id)
    rows: dict[str, Any] = {}
    with world.services.database.read() as connection:
        for table in schema.metadata.sorted_tables:
            if "merchant_id" in table.c:
                query = select(table).where(table.c.merchant_id == merchant_id)
            elif table is customers:
                query = select(table).where(
                    table.c.id.in_(
                        select(memberships.c.customer_id).where(
                            memberships.c.merchant_id == merchant_id
                        )
                    )
                )
            else:
                continue
            ordered = query.order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in connection.execute(ordered)]
    rows["register works"] = world.client.get("/v1/customers", headers=world.a.register).status_code
    return rows


def assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code, response.text


def assert_reveals_nothing(world: World, response) -> None:
    for secret in world.secrets:
        assert secret not in response.text, f"{secret!r} leaked in {response.text}"


# The checks, one kind per shape of route -----------------------------------------


def fill(value: Any, ids: dict[str, str]) -> Any:
    """The body with {placeholders} replaced by these ids."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    return value


def renamed(ids: dict[str, str], rename: dict[str, str]) -> dict[str, str]:
    """Path parameters named differently from the world's ids (operation_id → spend_id)."""
    return {**ids, **{parameter: ids[source] for parameter, source in rename.items()}}


@dataclass(frozen=True)
class Reach:
    """B aims at one of A's objects: the answer is the one for an id that does not exist."""

    body: dict[str, Any] | None = None
    status: int = 404
    code: str = "not_found"
    idempotency_key: str | None = None
    callers: tuple[str, ...] = ("owner", "manager", "register")
    query: str = ""
    rename: dict[str, str] = field(default_factory=dict)

    def run(self, world: World, method: str, path: str) -> None:
        for caller in self.callers:
            headers = dict(getattr(world.b, caller))
            if self.idempotency_key:
                headers["Idempotency-Key"] = self.idempotency_key
            aimed = self._call(world, method, path, world.aimed_ids(), headers)
            if aimed.status_code == 403 and caller != "owner":
                # The role is refused before anything is looked up: nothing is revealed.
                assert_problem(aimed, 403, "forbidden")
            else:
                assert_problem(aimed, self.status, self.code)
            assert_reveals_nothing(world, aimed)
            unknown = self._call(world, method, path, world.random_ids(), headers)
            assert (unknown.status_code, unknown.json()["code"]) == (
                aimed.status_code,
                aimed.json()["code"],
            ), f"{caller}: another merchant's object is told apart from a missing one"

    def _call(self, world: World, method: str, path: str, ids: dict[str, str], headers):
        ids = renamed(ids, self.rename)
        body = fill(self.body, ids)
        url = world.path(path, ids) + self.query.format(**ids)
        return world.client.request(method, url, json=body, headers=keyed(headers))


@dataclass(frozen=True)
class Listing:
    """B lists or searches: the answer holds nothing of A."""

    queries: tuple[str, ...] = ("",)

    def run(self, world: World, method: str, path: str) -> None:
        for caller in ("owner", "manager", "register"):
            for query in self.queries:
                response = world.client.request(
                    method, path + query.format(**world.ids), headers=getattr(world.b, caller)
                )
                assert response.status_code in (200, 403), response.text
                assert_reveals_nothing(world, response)


@dataclass(frozen=True)
class StatisticsOfA:
    """B asks for statistics naming A's store, program and customer's checks: it counts none."""

    export: bool = False

    def run(self, world: World, method: str, path: str) -> None:
        for query in (
            "?currency=CZK",
            "?currency=CZK&store_id={store_id}&group_by=store",
            "?currency=CZK&program_id={loyalty_program_id}&group_by=day",
        ):
            for caller in ("owner", "manager", "register"):
                response = world.client.request(
                    method, path + query.format(**world.ids), headers=getattr(world.b, caller)
                )
                if caller == "register":
                    assert response.status_code == 403, response.text
                    continue
                assert response.status_code == 200, response.text
                assert_reveals_nothing(world, response)
                if self.export:
                    total = response.text.strip().splitlines()[-1].split(",")
                    assert total[:2] == ["total", "0"], response.text
                else:
                    assert response.json()["totals"]["checks"] == 0, response.text
                    assert response.json()["groups"] == [], response.text


@dataclass(frozen=True)
class Create:
    """B creates something of its own: it lands at B, and A's data does not move."""

    body: dict[str, Any]
    expect: Callable[[World, dict[str, Any]], None] | None = None

    def run(self, world: World, method: str, path: str) -> None:
        body = fill(self.body, world.aimed_ids())
        response = world.client.request(method, path, json=body, headers=keyed(world.b.owner))
        assert response.status_code == 201, response.text
        created = response.json()
        assert created.get("merchant_id", world.b.id) == world.b.id, created
        assert_reveals_nothing(world, response)
        if self.expect is not None:
            self.expect(world, created)


@dataclass(frozen=True)
class OperatorOnly:
    """Only the operator may call it: B is refused whatever it names."""

    body: dict[str, Any] | None = None
    rename: dict[str, str] = field(default_factory=dict)

    def run(self, world: World, method: str, path: str) -> None:
        ids = renamed(world.aimed_ids(), self.rename)
        for caller in ("owner", "manager", "register"):
            response = world.client.request(
                method,
                world.path(path, ids),
                json=fill(self.body, ids),
                headers=keyed(getattr(world.b, caller)),
            )
            assert_problem(response, 403, "forbidden")
            assert_reveals_nothing(world, response)


@dataclass(frozen=True)
class CustomerOwn:
    """A customer route: Bob's session gets nothing of Alice's, B's keys get 401."""

    body: dict[str, Any] | None = None
    status: int = 200
    code: str | None = None

    def run(self, world: World, method: str, path: str) -> None:
        url = path.format(account_id=world.ids["account_id"])
        body = fill(self.body, world.aimed_ids())
        for caller in ("owner", "manager", "register"):
            response = world.client.request(
                method, url, json=body, headers=keyed(getattr(world.b, caller))
            )
            assert_problem(response, 401, "unauthenticated")
        response = world.client.request(
            method, url, json=body, headers=keyed(bearer(world.bob_session))
        )
        if self.code is not None:
            assert_problem(response, self.status, self.code)
        else:
            assert response.status_code == self.status, response.text
        assert_reveals_nothing(world, response)


@dataclass(frozen=True)
class CustomerOwnAtA:
    """Bob asks for a member code at A, where he is no member: not found; keys get 401."""

    def run(self, world: World, method: str, path: str) -> None:
        url = f"{path}?merchant_id={world.a.id}"
        for caller in ("owner", "manager", "register"):
            assert_problem(
                world.client.request(method, url, headers=getattr(world.b, caller)),
                401,
                "unauthenticated",
            )
        response = world.client.request(method, url, headers=bearer(world.bob_session))
        assert_problem(response, 404, "not_found")
        assert_reveals_nothing(world, response)


@dataclass(frozen=True)
class CustomerErasesOnlySelf:
    """Dave, a member at B only, erases himself: keys get 401; Alice at A keeps her data."""

    def run(self, world: World, method: str, path: str) -> None:
        for caller in ("owner", "manager", "register"):
            assert_problem(
                world.client.request(method, path, headers=keyed(getattr(world.b, caller))),
                401,
                "unauthenticated",
            )
        dave = world.client.post(
            "/v1/customers",
            json={"phone": "+420601000777", "email": "dave@example.com", "accept_terms": True},
            headers=world.b.register,
        )
        assert dave.status_code == 201, dave.text
        # Signed in without the mail (delivering the outbox would move A's webhooks).
        auth = world.services.auth
        with world.services.database.transaction() as connection:
            dave_id = connection.execute(
                select(memberships.c.customer_id).where(
                    memberships.c.id == uuid.UUID(dave.json()["id"])
                )
            ).scalar_one()
            session = auth._open_session(
                connection, "customer", dave_id, None, timedelta(hours=1)
            ).token
        response = world.client.request(method, path, headers=keyed(bearer(session)))
        assert response.status_code == 200, response.text
        alice = world.client.get(
            f"/v1/customers/{world.ids['customer_id']}", headers=world.a.owner
        ).json()
        assert alice["phone"] and alice.get("erased_at") is None, alice
        assert_problem(world.client.get("/v1/me", headers=bearer(session)), 401, "unauthenticated")


@dataclass(frozen=True)
class OfflineBatchAimedAtA:
    """B replays a batch naming A's customer, with A's check's key: refused, nothing of A."""

    def run(self, world: World, method: str, path: str) -> None:
        for caller in ("owner", "manager", "register"):
            aimed, unknown = (
                self._send(world, method, path, caller, ids)
                for ids in (world.aimed_ids(), world.random_ids())
            )
            assert aimed["status"] == "refused", aimed
            # A register names its own store only (forbidden); others learn "not found".
            assert aimed["code"] == ("forbidden" if caller == "register" else "not_found")
            assert (unknown["status"], unknown["code"]) == (aimed["status"], aimed["code"])

    @staticmethod
    def _send(world: World, method: str, path: str, caller: str, ids: dict[str, str]) -> dict:
        body = {
            "checks": [
                {
                    **fill(CHECK_OF_ALICE, ids),
                    "idempotency_key": "check-1",
                    "occurred_at": world.services.clock.now().isoformat(),
                }
            ]
        }
        response = world.client.request(
            method, path, json=body, headers=keyed(getattr(world.b, caller))
        )
        assert response.status_code == 200, response.text
        assert_reveals_nothing(world, response)
        (outcome,) = response.json()
        return outcome


@dataclass(frozen=True)
class Import:
    """B imports a file naming A's SKU and A's category path: all of it lands at B.

    The path is written in capitals: the import finds categories in any case, so
    it would find A's if it looked there, and B's answers that show it later are
    not taken for a leak of A's names.
    """

    content: str
    expect: dict[str, int]

    def run(self, world: World, method: str, path: str) -> None:
        def send(caller: str):
            return world.client.request(
                method,
                path,
                content=self.content.encode(),
                headers={**getattr(world.b, caller), "Content-Type": "text/csv"},
            )

        assert_problem(send("register"), 403, "forbidden")
        response = send("manager")
        assert response.status_code == 200, response.text
        assert response.json() == self.expect
        assert_reveals_nothing(world, response)


def _enrolling_alice_at_b_shows_nothing_a_knows(world: World, created: dict[str, Any]) -> None:
    assert created["id"] != world.ids["customer_id"]
    assert created["phone"] == ALICE_PHONE  # B gave the phone itself.
    assert created["email"] is None and created["first_name"] is None


def _asset_belongs_to_b(world: World, created: dict[str, Any]) -> None:
    listed = world.client.get("/v1/assets", headers=world.a.owner).json()["items"]
    assert "BETA_POINTS" not in [asset["code"] for asset in listed]


CUSTOMER = "{customer_id}"
LOYALTY_PROGRAM = {"program_id": "loyalty_program_id"}
LOYALTY_RULE = {"name": "Mallory's rule", "benefit": {"kind": "fixed_bonus", "units": 500}}
CHECK_OF_ALICE = {
    "store_id": "{store_id}",
    "currency": "CZK",
    "customer_id": CUSTOMER,
    "lines": [{"sku": "ALPHA-LATTE", "quantity": 2, "unit_price_minor": 6_000}],
}
ROUTE_CHECKS: dict[tuple[str, str], Any] = {
    # Merchants and assets
    ("POST", "/v1/merchants"): OperatorOnly(body={"name": "Sneaky Inc"}),
    ("GET", "/v1/merchants"): Listing(),
    ("GET", "/v1/merchants/{merchant_id}"): Reach(),
    ("PATCH", "/v1/merchants/{merchant_id}"): Reach(body={"time_zone": "America/Montreal"}),
    ("GET", "/v1/merchants/{merchant_id}/notices"): Reach(),
    ("POST", "/v1/merchants/{merchant_id}/status"): OperatorOnly(body={"status": "suspended"}),
    ("GET", "/v1/platform-accounts"): OperatorOnly(),
    ("POST", "/v1/platform-accounts/{platform_account_id}/status"): OperatorOnly(
        body={"status": "blocked", "reason": "Mallory says so"}
    ),
    ("POST", "/v1/assets"): Create(
        body={"code": "BETA_POINTS", "scale": 0, "name": "Beta points"},
        expect=_asset_belongs_to_b,
    ),
    ("GET", "/v1/assets"): Listing(),
    # Stores, terminals, staff, keys
    ("POST", "/v1/stores"): Create(body={"name": "Rival corner"}),
    ("GET", "/v1/stores"): Listing(),
    ("GET", "/v1/stores/{store_id}"): Reach(),
    ("POST", "/v1/terminals"): Reach(
        body={"store_id": "{store_id}", "kind": "register", "name": "Sneaky till"},
        callers=("owner", "manager"),
    ),
    ("GET", "/v1/terminals"): Listing(),
    ("POST", "/v1/staff"): Create(
        body={"email": "boris@rival.example", "name": "Boris", "role": "cashier"}
    ),
    ("GET", "/v1/staff"): Listing(),
    ("POST", "/v1/api-keys"): Reach(
        body={"name": "sneaky", "role": "cashier", "store_id": "{store_id}"}, callers=("owner",)
    ),
    ("GET", "/v1/api-keys"): Listing(),
    ("POST", "/v1/api-keys/{key_id}/revoke"): Reach(callers=("owner",)),
    # Customers and accounts
    ("POST", "/v1/customers"): Create(
        body={"phone": ALICE_PHONE}, expect=_enrolling_alice_at_b_shows_nothing_a_knows
    ),
    ("GET", "/v1/customers"): Listing(queries=("", "?name=alice", "?phone=601123456", "?limit=1")),
    ("GET", "/v1/customers/{customer_id}"): Reach(),
    ("GET", "/v1/customers/{customer_id}/card"): Reach(),
    ("PATCH", "/v1/customers/{customer_id}"): Reach(body={"first_name": "Mallory"}),
    ("POST", "/v1/customers/{customer_id}/status"): Reach(
        body={"status": "blocked"}, callers=("owner", "manager")
    ),
    ("GET", "/v1/customers/{customer_id}/accounts"): Reach(),
    ("GET", "/v1/customers/{customer_id}/loyalty"): Reach(),
    ("GET", "/v1/customers/{customer_id}/credits"): Reach(),
    ("GET", "/v1/accounts/{account_id}"): Reach(code="account_not_found"),
    ("GET", "/v1/accounts/{account_id}/transfers"): Reach(code="account_not_found"),
    # Wallets: B even sends the Idempotency-Key and body A used, and must not get A's answer.
    ("POST", "/v1/wallet/top-ups"): Reach(
        body={"customer_id": CUSTOMER, "asset": "CZK", "amount_minor": 1_000},
        idempotency_key="top-up-1",
    ),
    ("POST", "/v1/payments"): Reach(
        body={"customer_id": CUSTOMER, "asset": "CZK", "amount_minor": 300},
        idempotency_key="pay-1",
    ),
    ("GET", "/v1/payments/{payment_id}"): Reach(),
    ("POST", "/v1/payments/{payment_id}/refunds"): Reach(body={"amount_minor": 100}),
    ("POST", "/v1/adjustments"): Reach(
        body={
            "customer_id": CUSTOMER,
            "asset": "CZK",
            "amount_minor": 700,
            "direction": "debit",
            "reason": "taking what is not mine",
        },
        callers=("owner", "manager"),
    ),
    # The customer's own routes
    ("GET", "/v1/me"): CustomerOwn(),
    ("GET", "/v1/me/accounts"): CustomerOwn(),
    ("GET", "/v1/me/accounts/{account_id}/transfers"): CustomerOwn(
        status=404, code="account_not_found"
    ),
    ("GET", "/v1/me/gift-cards"): CustomerOwn(),
    # Bob knows the number and PIN of Alice's card, but is no member of A: he cannot take it.
    ("POST", "/v1/me/gift-cards"): CustomerOwn(
        body={"merchant_id": "{merchant_id}", "number": "{card_number}", "pin": "{card_pin}"},
        status=404,
        code="not_found",
    ),
    ("POST", "/v1/me/captchas"): CustomerOwn(status=201),
    ("GET", "/v1/me/bonus-lock"): CustomerOwn(),
    ("POST", "/v1/me/bonus-redemptions"): CustomerOwn(
        body={"code": "NOPE-NOPE", "captcha_id": str(uuid.UUID(int=7)), "captcha_answer": "X"},
        status=422,
        code="captcha_invalid",
    ),
    # Gift card programs, batches and cards
    ("POST", "/v1/gift-card-programs"): Create(
        body={
            "name": "Beta gift card",
            "asset": "CAD",
            "load_min_minor": 500,
            "load_max_minor": 50_000,
            "balance_max_minor": 100_000,
        }
    ),
    ("GET", "/v1/gift-card-programs"): Listing(),
    ("GET", "/v1/gift-card-programs/{program_id}"): Reach(),
    ("PATCH", "/v1/gift-card-programs/{program_id}"): Reach(body={"reloadable": False}),
    ("POST", "/v1/gift-card-programs/{program_id}/batches"): Reach(body={"card_count": 2}),
    ("GET", "/v1/gift-card-batches/{batch_id}"): Reach(),
    ("POST", "/v1/gift-card-batches/{batch_id}/export"): Reach(),
    ("POST", "/v1/gift-card-batches/{batch_id}/activations"): Reach(
        body={"load_minor": 1_000}, idempotency_key="batch-1"
    ),
    ("POST", "/v1/gift-cards/e-cards"): Reach(
        body={
            "program_id": "{program_id}",
            "amount_minor": 5_000,
            "recipient_email": "mallory@example.com",
        }
    ),
    ("GET", "/v1/gift-cards"): Listing(
        queries=("", "?program_id={program_id}", "?customer_id={customer_id}", "?state=active")
    ),
    ("GET", "/v1/gift-cards/{card_id}"): Reach(),
    ("GET", "/v1/gift-cards/{card_id}/operations"): Reach(),
    ("POST", "/v1/gift-cards/{card_id}/freeze"): Reach(),
    ("POST", "/v1/gift-cards/{card_id}/unfreeze"): Reach(),
    ("POST", "/v1/gift-cards/{card_id}/close"): Reach(),
    ("POST", "/v1/gift-cards/{card_id}/unlock"): Reach(),
    ("POST", "/v1/gift-cards/{card_id}/adjustments"): Reach(
        body={"amount_minor": 1_000, "direction": "debit", "reason": "taking what is not mine"}
    ),
    ("GET", "/v1/gift-cards/{card_id}/ecard-mails"): Reach(rename={"card_id": "ecard_id"}),
    # B even sends the key A issued the e-card with: A's card is still no card to B.
    ("POST", "/v1/gift-cards/{card_id}/ecard-mails"): Reach(
        body={"idempotency_key": "{ecard_key}", "recipient_email": "mallory@example.com"},
        rename={"card_id": "ecard_id"},
    ),
    # At the register a card is named by number and PIN: A's card is told apart from no card
    # by nothing, and B's tries do not count against A's PIN.
    ("POST", "/v1/gift-cards/activations"): Reach(
        body={"number": "{inactive_card_number}", "amount_minor": 1_000},
        status=422,
        code="gift_card_invalid",
    ),
    ("POST", "/v1/gift-cards/loads"): Reach(
        body={"number": "{card_number}", "amount_minor": 1_000},
        status=422,
        code="gift_card_invalid",
    ),
    ("POST", "/v1/gift-cards/spends"): Reach(
        body={"number": "{card_number}", "pin": "{card_pin}", "amount_minor": 100},
        status=422,
        code="gift_card_invalid",
        idempotency_key="spend-1",
    ),
    ("POST", "/v1/gift-cards/balance-inquiries"): Reach(
        body={"number": "{card_number}", "pin": "{card_pin}"},
        status=422,
        code="gift_card_invalid",
    ),
    ("POST", "/v1/gift-cards/authorisations"): Reach(
        body={"number": "{card_number}", "pin": "{card_pin}", "amount_minor": 100},
        status=422,
        code="gift_card_invalid",
    ),
    ("POST", "/v1/gift-cards/balance-transfers"): Reach(
        body={
            "from_number": "{card_number}",
            "from_pin": "{card_pin}",
            "to_number": "{spare_card_number}",
        },
        status=422,
        code="gift_card_invalid",
    ),
    ("POST", "/v1/gift-cards/registrations"): Reach(
        body={"customer_id": "{bob_id}", "number": "{card_number}", "pin": "{card_pin}"},
        status=422,
        code="gift_card_invalid",
    ),
    ("POST", "/v1/gift-cards/profile-bonuses"): Reach(
        body={"customer_id": "{bob_id}", "card_id": "{card_id}"}
    ),
    ("POST", "/v1/gift-cards/spends/{operation_id}/refunds"): Reach(
        body={"amount_minor": 100}, rename={"operation_id": "spend_id"}
    ),
    ("POST", "/v1/gift-cards/authorisations/{operation_id}/capture"): Reach(
        body={}, rename={"operation_id": "authorisation_id"}
    ),
    ("POST", "/v1/gift-cards/authorisations/{operation_id}/void"): Reach(
        rename={"operation_id": "authorisation_id"}
    ),
    # Gift card alerts, resellers, reports
    ("POST", "/v1/gift-card-alert-rules"): Create(
        body={"kind": "large_spend", "threshold_minor": 1_000}
    ),
    ("GET", "/v1/gift-card-alert-rules"): Listing(),
    ("PATCH", "/v1/gift-card-alert-rules/{rule_id}"): Reach(body={"active": False}),
    ("GET", "/v1/gift-card-alerts"): Listing(),
    ("POST", "/v1/gift-card-resellers"): Reach(
        body={"name": "Sneaky Mall", "program_ids": ["{program_id}"]}, callers=("owner",)
    ),
    ("GET", "/v1/gift-card-resellers"): Listing(),
    ("GET", "/v1/gift-card-resellers/{reseller_id}/settlement"): Reach(
        query="?from=2026-01-01&to=2026-12-31"
    ),
    ("GET", "/v1/gift-card-reports/liability"): Listing(queries=("", "?format=csv")),
    ("GET", "/v1/gift-card-reports/activity"): Listing(
        queries=(
            "?from=2026-01-01&to=2026-12-31",
            "?from=2026-01-01&to=2026-12-31&program_id={program_id}&format=csv",
        )
    ),
    # Bonus code campaigns
    # Loyalty programs
    ("POST", "/v1/loyalty-programs"): Create(
        body={"kind": "points", "name": "Beta points", "currency": "CZK"}
    ),
    ("GET", "/v1/loyalty-programs"): Listing(),
    ("GET", "/v1/loyalty-programs/{program_id}"): Reach(rename=LOYALTY_PROGRAM),
    ("PATCH", "/v1/loyalty-programs/{program_id}"): Reach(
        body={"name": "Mallory points"}, rename=LOYALTY_PROGRAM
    ),
    ("POST", "/v1/loyalty-programs/{program_id}/suspension"): Reach(rename=LOYALTY_PROGRAM),
    ("POST", "/v1/loyalty-programs/{program_id}/resumption"): Reach(rename=LOYALTY_PROGRAM),
    ("POST", "/v1/loyalty-programs/{program_id}/rules"): Reach(
        body=LOYALTY_RULE, rename=LOYALTY_PROGRAM, callers=("owner", "manager")
    ),
    ("GET", "/v1/loyalty-programs/{program_id}/rules"): Reach(rename=LOYALTY_PROGRAM),
    ("PUT", "/v1/loyalty-programs/{program_id}/rules/{rule_id}"): Reach(
        body=LOYALTY_RULE,
        rename={**LOYALTY_PROGRAM, "rule_id": "loyalty_rule_id"},
        callers=("owner", "manager"),
    ),
    ("POST", "/v1/loyalty-programs/{program_id}/deletion"): Reach(
        body={"open_balances": "expired"}, rename=LOYALTY_PROGRAM
    ),
    # Checks: B names A's store and A's customer, even with A's Idempotency-Key.
    ("POST", "/v1/checks/quotes"): Reach(body=CHECK_OF_ALICE),
    ("POST", "/v1/checks"): Reach(body=CHECK_OF_ALICE, idempotency_key="check-1"),
    ("POST", "/v1/checks/offline-batches"): OfflineBatchAimedAtA(),
    ("GET", "/v1/checks"): Listing(
        queries=(
            "",
            "?customer_id={customer_id}",
            "?store_id={store_id}",
            "?member=true",
            "?program_id={loyalty_program_id}",
        )
    ),
    ("GET", "/v1/checks/{check_id}"): Reach(),
    ("GET", "/v1/statistics/checks"): StatisticsOfA(),
    ("POST", "/v1/segments"): Create(body={"name": "B's", "definition": {"visits_min": 1}}),
    ("GET", "/v1/segments"): Listing(),
    ("GET", "/v1/segments/{segment_id}"): Reach(),
    ("PUT", "/v1/segments/{segment_id}"): Reach(body={"name": "Mine", "definition": {}}),
    ("DELETE", "/v1/segments/{segment_id}"): Reach(),
    ("GET", "/v1/segments/{segment_id}/members"): Reach(),
    ("POST", "/v1/campaigns"): Reach(
        body={"name": "x", "segment_id": "{segment_id}", "subject": "s", "body": "b"}
    ),
    ("GET", "/v1/campaigns/{campaign_id}"): Reach(),
    ("GET", "/v1/campaigns/{campaign_id}/preview"): Reach(query="?customer_id={customer_id}"),
    ("POST", "/v1/campaigns/{campaign_id}/test-sends"): Reach(
        body={"customer_id": "{customer_id}", "email": "mallory@example.com"}
    ),
    ("POST", "/v1/campaigns/{campaign_id}/send"): Reach(),
    ("GET", "/v1/statistics/checks/export"): StatisticsOfA(export=True),
    ("POST", "/v1/me/member-tokens"): CustomerOwnAtA(),
    ("GET", "/v1/me/personal-data"): CustomerOwn(),
    ("POST", "/v1/me/erasure"): CustomerErasesOnlySelf(),
    ("POST", "/v1/me/consents"): CustomerOwn(
        body={"merchant_id": "{merchant_id}", "email": False}, status=404, code="not_found"
    ),
    ("GET", "/v1/customers/{customer_id}/consents"): Reach(),
    ("POST", "/v1/customers/{customer_id}/consents"): Reach(body={"email": False}),
    ("GET", "/v1/customers/{customer_id}/personal-data"): Reach(),
    ("POST", "/v1/customers/{customer_id}/erasure"): Reach(body={}),
    ("POST", "/v1/checks/{check_id}/refunds"): Reach(body={}, idempotency_key="refund-1"),
    ("POST", "/v1/bonus-campaigns"): Create(
        body={
            "name": "Beta bonus",
            "asset": "CZK",
            "bonus_value_minor": 10_000,
            "code_count": 2,
            "valid_from": "2026-01-01T00:00:00+00:00",
            "valid_to": "2030-01-01T00:00:00+00:00",
        }
    ),
    ("GET", "/v1/bonus-campaigns"): Listing(),
    ("GET", "/v1/bonus-campaigns/{campaign_id}"): Reach(code="campaign_not_found"),
    ("POST", "/v1/bonus-campaigns/{campaign_id}/funding/business-account"): Reach(
        code="campaign_not_found", callers=("owner", "manager")
    ),
    ("POST", "/v1/bonus-campaigns/{campaign_id}/stop"): Reach(
        code="campaign_not_found", callers=("owner", "manager")
    ),
    ("GET", "/v1/bonus-campaigns/{campaign_id}/codes"): Reach(code="campaign_not_found"),
    ("GET", "/v1/bonus-campaigns/{campaign_id}/codes-mails"): Reach(code="campaign_not_found"),
    ("GET", "/v1/bonus-campaigns/{campaign_id}/codes.{file_format}"): Reach(
        code="campaign_not_found", callers=("owner", "manager")
    ),
    ("GET", "/v1/bonus-payouts"): Listing(),
    ("POST", "/v1/bank-payments"): OperatorOnly(body={"asset": "CZK", "amount_minor": 100}),
    ("GET", "/v1/bank-payments"): OperatorOnly(),
    ("POST", "/v1/bank-payments/{payment_id}/assign"): OperatorOnly(
        body={"merchant_id": "{bob_merchant_id}"}, rename={"payment_id": "bank_payment_id"}
    ),
    ("POST", "/v1/bonus-payouts/{payout_id}/paid"): OperatorOnly(),
    # The catalogue
    ("POST", "/v1/catalogue/products"): Reach(
        body={
            "sku": ALPHA_SKU,
            "name": "Beta espresso",
            "unit_price_minor": 100,
            "currency": "CZK",
            "category_id": "{category_id}",
        }
    ),
    ("GET", "/v1/catalogue/products"): Listing(
        queries=(
            "",
            "?category_id={category_id}",
            "?q=alpha",
            f"?q={ALPHA_SKU}",
            "?active=true",
        )
    ),
    ("GET", "/v1/catalogue/products/{product_id}"): Reach(),
    ("PATCH", "/v1/catalogue/products/{product_id}"): Reach(body={"active": False}),
    ("POST", "/v1/catalogue/categories"): Reach(
        body={"name": "Sneaky shelf", "parent_id": "{category_id}"}
    ),
    ("GET", "/v1/catalogue/categories"): Listing(),
    ("GET", "/v1/catalogue/categories/tree"): Listing(),
    ("PATCH", "/v1/catalogue/categories/{category_id}"): Reach(body={"name": "Sneaky shelf"}),
    ("POST", "/v1/catalogue/imports"): Import(
        content=f"sku,name,category,unit_price,currency\n"
        f"{ALPHA_SKU},Beta espresso,ALPHA DRINKS/ALPHA HOT DRINKS,9.99,CZK\n",
        expect={"created": 1, "updated": 0, "unchanged": 0, "categories_created": 2},
    ),
    # Webhooks
    ("POST", "/v1/webhook-endpoints"): Create(
        body={"url": "https://hooks.example.com/beta", "events": ["*"]}
    ),
    ("GET", "/v1/webhook-endpoints"): Listing(),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): Reach(),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): Reach(body={"active": False}),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): Reach(),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/secret"): Reach(),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): Reach(),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/resend"): Reach(),
}


def keyed(headers: dict[str, str]) -> dict[str, str]:
    """The headers with a fresh Idempotency-Key, which every value-moving POST requires
    (sent to every route: the others ignore it)."""
    return {**headers, "Idempotency-Key": str(uuid.uuid4())}


def openapi_operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


# Tests -------------------------------------------------------------------------


def test_every_route_is_checked_for_isolation_or_named_public(client):
    operations = set(openapi_operations(client))
    unchecked = operations - set(ROUTE_CHECKS) - PUBLIC_OPERATIONS
    assert not unchecked, (
        "These routes have no tenant-isolation check: add them to ROUTE_CHECKS in "
        f"tests/api/test_tenant_isolation.py (or to PUBLIC_OPERATIONS): {sorted(unchecked)}"
    )
    stale = (set(ROUTE_CHECKS) | PUBLIC_OPERATIONS) - operations
    assert not stale, f"These checked routes are not in the OpenAPI any more: {sorted(stale)}"


def test_another_merchant_can_neither_read_nor_change_anything_of_merchant_a(
    client, services, mailer, operator_key, merchant, other_merchant, subtests
):
    world = build_world(client, services, mailer, merchant, other_merchant, operator_key)
    before = snapshot(world)
    for method, path in openapi_operations(client):
        if (method, path) in PUBLIC_OPERATIONS:
            continue
        with subtests.test(route=f"{method} {path}"):
            check = ROUTE_CHECKS.get((method, path))
            assert check is not None, f"{method} {path} has no tenant-isolation check"
            check.run(world, method, path)
            after = snapshot(world)
            changed = sorted(name for name in before if after[name] != before[name])
            before = after  # Report a change once, at the route that made it.
            assert not changed, f"{method} {path} changed merchant A's {changed}"


def test_a_customer_sees_only_their_own_memberships_and_accounts(
    client, services, mailer, operator_key, merchant, other_merchant
):
    world = build_world(client, services, mailer, merchant, other_merchant, operator_key)
    # Alice shops at B too; Bob's wallet is at B, and B's Bob is nothing of Alice's.
    alice_at_b = enrol(client, other_merchant, ALICE_PHONE)
    assert top_up(client, other_merchant, alice_at_b["id"], 50).status_code == 201
    me = client.get("/v1/me", headers=bearer(world.alice_session))
    assert me.status_code == 200
    assert sorted(m["id"] for m in me.json()["memberships"]) == sorted(
        [world.ids["customer_id"], alice_at_b["id"]]
    )
    accounts = client.get("/v1/me/accounts", headers=bearer(world.alice_session)).json()["items"]
    # Her wallet and her points at A (12 for the check of 120.00), her wallet at B.
    assert {(a["owner_id"], a["balance"]["balance_minor"]) for a in accounts} == {
        (world.ids["customer_id"], 700),
        (world.ids["customer_id"], 12),
        (alice_at_b["id"], 50),
    }
    assert world.bob_account_id not in {a["id"] for a in accounts}
    cards = client.get("/v1/me/gift-cards", headers=bearer(world.alice_session)).json()["items"]
    assert [card["id"] for card in cards] == [world.ids["card_id"]]
    own = client.get(
        f"/v1/me/accounts/{world.ids['account_id']}/transfers", headers=bearer(world.alice_session)
    )
    assert own.status_code == 200 and len(own.json()["items"]) == 2
    bobs = client.get(
        f"/v1/me/accounts/{world.bob_account_id}/transfers", headers=bearer(world.alice_session)
    )
    assert_problem(bobs, 404, "account_not_found")
    merchant_side = client.get(
        f"/v1/me/accounts/{world.bob_account_id}/transfers", headers=other_merchant.owner
    )
    assert_problem(merchant_side, 401, "unauthenticated")


def test_a_customer_session_is_not_a_merchant_key(
    client, services, mailer, operator_key, merchant, other_merchant
):
    world = build_world(client, services, mailer, merchant, other_merchant, operator_key)
    for path in ("/v1/customers", f"/v1/accounts/{world.ids['account_id']}", "/v1/merchants"):
        assert_problem(
            client.get(path, headers=bearer(world.alice_session)), 401, "unauthenticated"
        )


def test_every_route_but_the_public_ones_needs_a_credential(client):
    for method, path in openapi_operations(client):
        if (method, path) in PUBLIC_OPERATIONS:
            continue
        url = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)
        for headers in (
            {},
            {"Authorization": "Bearer cgk_not-a-real-key"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
        ):
            response = client.request(method, url, headers=headers)
            assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer", (method, path)


def test_a_cashier_may_not_do_what_needs_a_manager_or_an_owner(client, services, merchant):
    customer = enrol(client, merchant)
    key_id = client.get("/v1/api-keys", headers=merchant.owner).json()["items"][0]["id"]
    refused = [
        ("POST", "/v1/stores", {"name": "Till's own store"}),
        ("POST", "/v1/terminals", {"store_id": merchant.store_id, "kind": "kiosk", "name": "K"}),
        ("POST", "/v1/staff", {"email": "eve@example.com", "name": "Eve", "role": "owner"}),
        ("GET", "/v1/staff", None),
        ("POST", "/v1/api-keys", {"name": "mine", "role": "owner"}),
        ("GET", "/v1/api-keys", None),
        ("POST", f"/v1/api-keys/{key_id}/revoke", None),
        ("POST", "/v1/assets", {"code": "TILL_POINTS", "scale": 0, "name": "Till points"}),
        ("POST", f"/v1/customers/{customer['id']}/status", {"status": "blocked"}),
        (
            "POST",
            "/v1/adjustments",
            {
                "customer_id": customer["id"],
                "asset": "CZK",
                "amount_minor": 500,
                "direction": "credit",
                "reason": "a present to myself",
            },
        ),
        ("POST", "/v1/merchants", {"name": "My own shop"}),
        ("POST", f"/v1/merchants/{merchant.id}/status", {"status": "suspended"}),
    ]
    before = _merchant_rows(services, merchant)
    for method, path, body in refused:
        response = client.request(method, path, json=body, headers=keyed(merchant.register))
        assert_problem(response, 403, "forbidden")
    assert _merchant_rows(services, merchant) == before
    assert (
        client.get(f"/v1/customers/{customer['id']}", headers=merchant.register).json()["status"]
        == "active"
    )


def test_a_manager_may_not_do_what_needs_an_owner(client, services, merchant):
    key_id = client.get("/v1/api-keys", headers=merchant.owner).json()["items"][0]["id"]
    refused = [
        ("POST", "/v1/stores", {"name": "Manager's store"}),
        ("POST", "/v1/staff", {"email": "max@example.com", "name": "Max", "role": "manager"}),
        ("POST", "/v1/api-keys", {"name": "mine", "role": "owner"}),
        ("GET", "/v1/api-keys", None),
        ("POST", f"/v1/api-keys/{key_id}/revoke", None),
    ]
    before = _merchant_rows(services, merchant)
    for method, path, body in refused:
        response = client.request(method, path, json=body, headers=keyed(merchant.manager))
        assert_problem(response, 403, "forbidden")
    assert _merchant_rows(services, merchant) == before


def _merchant_rows(services: Services, merchant: MerchantSetup) -> dict[str, int]:
    merchant_id = uuid.UUID(merchant.id)
    with services.database.read() as connection:
        return {
            table.name: connection.execute(
                select(func.count()).select_from(table).where(table.c.merchant_id == merchant_id)
            ).scalar_one()
            for table in (stores, terminals, staff, api_keys, transfers, memberships)
        }


def test_a_revoked_key_is_refused_at_once(client, merchant):
    keys = client.get("/v1/api-keys", headers=merchant.owner).json()["items"]
    manager_key_id = next(k["id"] for k in keys if k["name"] == "manager")
    assert client.get("/v1/customers", headers=merchant.manager).status_code == 200
    revoked = client.post(f"/v1/api-keys/{manager_key_id}/revoke", headers=merchant.owner)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert_problem(client.get("/v1/customers", headers=merchant.manager), 401, "unauthenticated")
    assert client.get("/v1/customers", headers=merchant.owner).status_code == 200


def test_a_suspended_merchants_keys_are_refused_until_it_is_active_again(
    client, operator_key, merchant, other_merchant
):
    customer = enrol(client, merchant)
    assert top_up(client, merchant, customer["id"], 1_000).status_code == 201
    suspended = client.post(
        f"/v1/merchants/{merchant.id}/status",
        json={"status": "suspended"},
        headers=bearer(operator_key),
    )
    assert suspended.json()["status"] == "suspended"
    for headers in (merchant.owner, merchant.manager, merchant.register):
        assert_problem(client.get("/v1/customers", headers=headers), 401, "unauthenticated")
    payment = client.post(
        "/v1/payments",
        json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 100},
        headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert_problem(payment, 401, "unauthenticated")
    assert client.get("/v1/customers", headers=other_merchant.owner).status_code == 200
    client.post(
        f"/v1/merchants/{merchant.id}/status",
        json={"status": "active"},
        headers=bearer(operator_key),
    )
    accounts = client.get(f"/v1/customers/{customer['id']}/accounts", headers=merchant.register)
    assert accounts.status_code == 200
    assert accounts.json()["items"][0]["balance"]["balance_minor"] == 1_000


def test_the_operator_may_act_for_a_merchant(client, operator_key, merchant):
    customer = enrol(client, merchant)
    acting = {**bearer(operator_key), "Cagnotte-Merchant-Id": merchant.id}
    listed = client.get("/v1/customers", headers=acting)
    assert [c["id"] for c in listed.json()["items"]] == [customer["id"]]
    store = client.post("/v1/stores", json={"name": "Opened by the operator"}, headers=acting)
    assert store.status_code == 201 and store.json()["merchant_id"] == merchant.id
    stores_of_merchant = client.get("/v1/stores", headers=merchant.owner).json()["items"]
    assert store.json()["id"] in [s["id"] for s in stores_of_merchant]
    # Without the header the operator is the platform, which has no customers.
    assert client.get("/v1/customers", headers=bearer(operator_key)).json()["items"] == []
    unknown = {**bearer(operator_key), "Cagnotte-Merchant-Id": str(uuid.uuid4())}
    assert_problem(client.get("/v1/customers", headers=unknown), 404, "not_found")


def test_a_merchant_may_not_send_the_acting_for_header(client, merchant, other_merchant):
    customer = enrol(client, merchant)
    for merchant_id in (merchant.id, other_merchant.id):
        response = client.get(
            f"/v1/customers/{customer['id']}",
            headers={**other_merchant.owner, "Cagnotte-Merchant-Id": merchant_id},
        )
        assert_problem(response, 403, "forbidden")
        assert "Alice" not in response.text and customer["id"] not in response.text


def test_the_same_idempotency_key_at_two_merchants_makes_two_payments(
    client, merchant, other_merchant
):
    payments = []
    for setup in (merchant, other_merchant):
        customer = enrol(client, setup)
        assert top_up(client, setup, customer["id"], 1_000).status_code == 201
        response = client.post(
            "/v1/payments",
            json={"customer_id": customer["id"], "asset": "CZK", "amount_minor": 400},
            headers={**setup.register, "Idempotency-Key": "till-receipt-1"},
        )
        assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
        assert response.json()["wallet_balance_minor"] == 600
        payments.append(response.json()["id"])
    assert payments[0] != payments[1]


def test_enrolling_by_e_mail_does_not_show_the_phone_another_merchant_was_given(
    client, merchant, other_merchant
):
    enrol(client, merchant, ALICE_PHONE, email=ALICE_EMAIL)
    at_b = client.post(
        "/v1/customers", json={"email": ALICE_EMAIL}, headers=other_merchant.register
    )
    assert at_b.status_code == 201
    assert at_b.json()["phone"] is None

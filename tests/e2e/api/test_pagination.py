"""Every list of the API pages one way: `limit`, an opaque `cursor`, `{items, next_cursor}`.

The lists are found in the OpenAPI document (each GET answering a `…Page`); for
each, `FILL` makes at least three items and says how to ask for them. Walking a
list one item a page must give exactly the items of one big page, in the same
order, each once, the last page without a next cursor; a cursor the list did
not give is 400 invalid_cursor, a limit above the maximum 422 validation_error.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

import pytest

from cagnotte.db.pages import PAGE_LIMIT_MAX
from cagnotte.jobs import run_due_jobs
from cagnotte.programs.bonus_codes.delivery import CODES_MAIL
from tests.e2e.api.conftest import MerchantSetup, bearer, enrol, make_merchant, top_up
from tests.e2e.bonus_codes.conftest import (
    pay_by_bank,
    request_campaign,
    sign_in_customer,
)
from tests.e2e.gift_cards.conftest import (
    activate,
    create_program,
    load,
    new_cards,
    post,
    spend,
)

LIMIT_DEFAULT = 50


@dataclass
class Listing:
    """How to ask for one list once its items exist."""

    path: str
    headers: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    # A look-up by a unique key answers at most one item.
    items_at_least: int = 3


@dataclass
class World:
    """A merchant with what its lists show, made on demand."""

    client: Any
    services: Any
    clock: Any
    mailer: Any
    operator_key: str
    merchant: MerchantSetup

    @property
    def operator(self) -> dict[str, str]:
        return bearer(self.operator_key)

    def ok(self, response, status: int = 201) -> dict:
        assert response.status_code == status, response.text
        return response.json()

    @cached_property
    def customer(self) -> dict:
        """A member with a wallet of three top-ups."""
        member = enrol(self.client, self.merchant, "+420601000100")
        for amount in (100, 200, 300):
            self.clock.advance(timedelta(seconds=1))
            self.ok(top_up(self.client, self.merchant, member["id"], amount))
        return member

    @cached_property
    def session(self) -> dict[str, str]:
        """A signed-in customer with a wallet of three top-ups and accounts at three
        merchants."""
        headers = sign_in_customer(
            self.client, self.mailer, self.merchant, "ada@example.com", "+420601000200"
        )
        for index in range(2):
            shop = make_merchant(self.client, self.operator_key, f"Shop {index}")
            enrol(self.client, shop, "+420601000200", email="ada@example.com")
            self.ok(top_up(self.client, shop, self.member_of(shop, "+420601000200"), 500))
        member = self.member_of(self.merchant, "+420601000200")
        for amount in (100, 200, 300):
            self.clock.advance(timedelta(seconds=1))
            self.ok(top_up(self.client, self.merchant, member, amount))
        return headers

    def member_of(self, shop: MerchantSetup, phone: str) -> str:
        found = self.client.get("/v1/customers", params={"phone": phone}, headers=shop.owner)
        return self.ok(found, 200)["items"][0]["id"]

    @cached_property
    def program(self) -> dict:
        return create_program(self.client, self.merchant)

    @cached_property
    def card(self):
        (card,) = new_cards(self.client, self.merchant, self.program, 1)
        return card

    def campaign(self, **overrides) -> dict:
        return request_campaign(self.client, self.merchant, self.clock, **overrides)

    @cached_property
    def funded_campaign(self) -> dict:
        campaign = self.campaign(code_count=3)
        paid = pay_by_bank(self.client, self.operator_key, 60_000, self.variable_symbol(campaign))
        self.ok(paid)
        return campaign

    def variable_symbol(self, campaign: dict) -> str:
        return campaign["funding"]["variable_symbol"]

    @cached_property
    def points(self) -> dict:
        body = {"kind": "points", "name": "Points", "currency": "CZK"}
        return self.ok(
            self.client.post("/v1/loyalty-programs", json=body, headers=self.merchant.manager)
        )

    @cached_property
    def endpoint(self) -> dict:
        body = {"url": "https://hooks.example.com/cagnotte", "events": ["*"]}
        return self.ok(
            self.client.post("/v1/webhook-endpoints", json=body, headers=self.merchant.manager)
        )


def _merchants(world: World) -> Listing:
    for index in range(2):
        make_merchant(world.client, world.operator_key, f"Merchant {index}")
    return Listing("/v1/merchants", world.operator)


def _platform_accounts(world: World) -> Listing:
    enrol(world.client, world.merchant, "+420601000300")
    return Listing(
        "/v1/platform-accounts", world.operator, {"phone": "+420601000300"}, items_at_least=1
    )


def _assets(world: World) -> Listing:
    for code in ("STAMPS", "POINTS", "BEANS"):
        body = {"code": code, "scale": 0, "name": code.title()}
        world.ok(world.client.post("/v1/assets", json=body, headers=world.merchant.manager))
    return Listing("/v1/assets", world.merchant.owner)


def _stores(world: World) -> Listing:
    for name in ("North", "South"):
        world.clock.advance(timedelta(seconds=1))
        world.ok(world.client.post("/v1/stores", json={"name": name}, headers=world.merchant.owner))
    return Listing("/v1/stores", world.merchant.owner)


def _terminals(world: World) -> Listing:
    for name in ("Till 2", "Till 3"):
        body = {"store_id": world.merchant.store_id, "kind": "register", "name": name}
        world.ok(world.client.post("/v1/terminals", json=body, headers=world.merchant.owner))
    return Listing("/v1/terminals", world.merchant.owner)


def _staff(world: World) -> Listing:
    for name in ("ann", "bob", "cid"):
        body = {"email": f"{name}@example.com", "name": name.title(), "role": "cashier"}
        world.ok(world.client.post("/v1/staff", json=body, headers=world.merchant.owner))
    return Listing("/v1/staff", world.merchant.owner)


def _api_keys(world: World) -> Listing:
    # The owner's, the register's and the manager's keys.
    return Listing("/v1/api-keys", world.merchant.owner)


def _customers(world: World) -> Listing:
    for index in range(3):
        enrol(world.client, world.merchant, f"+42060100040{index}", first_name="Eva")
    return Listing("/v1/customers", world.merchant.owner, {"name": "eva"})


def _customer_accounts(world: World) -> Listing:
    member = enrol(world.client, world.merchant, "+420601000500")
    for asset in ("CZK", "EUR", "CAD"):
        world.ok(top_up(world.client, world.merchant, member["id"], 100, asset=asset))
    return Listing(f"/v1/customers/{member['id']}/accounts", world.merchant.owner)


def _account_transfers(world: World) -> Listing:
    accounts = world.client.get(
        f"/v1/customers/{world.customer['id']}/accounts", headers=world.merchant.owner
    )
    (wallet,) = world.ok(accounts, 200)["items"]
    return Listing(f"/v1/accounts/{wallet['id']}/transfers", world.merchant.owner)


def _my_accounts(world: World) -> Listing:
    return Listing("/v1/me/accounts", world.session)


def _my_transfers(world: World) -> Listing:
    accounts = world.ok(world.client.get("/v1/me/accounts", headers=world.session), 200)
    member = world.member_of(world.merchant, "+420601000200")
    (wallet,) = [a for a in accounts["items"] if a["owner_id"] == member]
    return Listing(f"/v1/me/accounts/{wallet['id']}/transfers", world.session)


def _campaigns(world: World) -> Listing:
    for name in ("Spring", "Summer", "Autumn"):
        world.campaign(name=name)
    return Listing("/v1/bonus-campaigns", world.merchant.owner)


def _codes(world: World) -> Listing:
    campaign = world.funded_campaign
    return Listing(f"/v1/bonus-campaigns/{campaign['id']}/codes", world.merchant.manager)


def _codes_mails(world: World) -> Listing:
    campaign = world.funded_campaign
    # The funding mailed the codes once; two more mails about the campaign, as a
    # re-send would leave them.
    for _ in range(2):
        world.clock.advance(timedelta(seconds=1))
        with world.services.database.transaction() as connection:
            world.services.outbox.enqueue(
                connection,
                merchant_id=uuid.UUID(world.merchant.id),
                kind=CODES_MAIL,
                recipient="office@cafe-bleu.example.com",
                now=world.clock.now(),
                title="Bonus codes again",
                reference_id=uuid.UUID(campaign["id"]),
            )
    return Listing(f"/v1/bonus-campaigns/{campaign['id']}/codes-mails", world.merchant.manager)


def _payouts(world: World) -> Listing:
    for name in ("One", "Two", "Three"):
        campaign = world.campaign(
            name=name, rest_destination="bank", bank_account="19-2000145399/0800"
        )
        world.ok(pay_by_bank(world.client, world.operator_key, 100_000, campaign_symbol(campaign)))
    world.clock.advance(timedelta(days=31))
    run_due_jobs(world.services)
    return Listing("/v1/bonus-payouts", world.operator)


def campaign_symbol(campaign: dict) -> str:
    return campaign["funding"]["variable_symbol"]


def _bank_payments(world: World) -> Listing:
    for symbol in ("111", "222", "333"):
        world.ok(pay_by_bank(world.client, world.operator_key, 1_000, symbol))
    return Listing("/v1/bank-payments", world.operator, {"status": "unmatched"})


def _gift_card_programs(world: World) -> Listing:
    for name in ("Blue", "Green", "Red"):
        create_program(world.client, world.merchant, name=name)
    return Listing("/v1/gift-card-programs", world.merchant.manager)


def _ecard_mails(world: World) -> Listing:
    body = {
        "program_id": world.program["id"],
        "amount_minor": 5_000,
        "recipient_email": "marie@example.ca",
    }
    issued = world.ok(
        post(world.client, "/v1/gift-cards/e-cards", body, world.merchant.register, "e1")
    )
    card_id = issued["card"]["id"]
    for recipient in ("luc@example.ca", "zoe@example.ca"):
        world.clock.advance(timedelta(seconds=1))
        resend = {"idempotency_key": "e1", "recipient_email": recipient}
        world.ok(
            world.client.post(
                f"/v1/gift-cards/{card_id}/ecard-mails",
                json=resend,
                headers=world.merchant.register,
            ),
            202,
        )
    return Listing(f"/v1/gift-cards/{card_id}/ecard-mails", world.merchant.register)


def _gift_cards(world: World) -> Listing:
    new_cards(world.client, world.merchant, world.program, 3)
    return Listing("/v1/gift-cards", world.merchant.manager, {"program_id": world.program["id"]})


def _gift_card_operations(world: World) -> Listing:
    card = world.card
    activate(world.client, world.merchant, card, 10_000)
    load(world.client, world.merchant, card, 1_000)
    spend(world.client, world.merchant, card, 500)
    return Listing(f"/v1/gift-cards/{card.id}/operations", world.merchant.manager)


def _my_gift_cards(world: World) -> Listing:
    headers = world.session
    member = world.member_of(world.merchant, "+420601000200")
    for card in new_cards(world.client, world.merchant, world.program, 3):
        activate(world.client, world.merchant, card, 1_000)
        body = {"customer_id": member, "number": card.number, "pin": card.pin}
        registered = post(
            world.client, "/v1/gift-cards/registrations", body, world.merchant.register
        )
        world.ok(registered)
        world.clock.advance(timedelta(seconds=1))
    return Listing("/v1/me/gift-cards", headers)


def _alert_rules(world: World) -> Listing:
    for kind in ("balance_transfer", "manual_adjustment", "large_load"):
        body = {"kind": kind, **({"threshold_minor": 20_000} if kind == "large_load" else {})}
        world.ok(
            world.client.post(
                "/v1/gift-card-alert-rules", json=body, headers=world.merchant.manager
            )
        )
    return Listing("/v1/gift-card-alert-rules", world.merchant.manager)


def _alerts(world: World) -> Listing:
    body = {"kind": "manual_adjustment"}
    world.ok(
        world.client.post("/v1/gift-card-alert-rules", json=body, headers=world.merchant.manager)
    )
    card = world.card
    activate(world.client, world.merchant, card, 10_000)
    for _ in range(3):
        world.clock.advance(timedelta(seconds=1))
        adjustment = {"amount_minor": 100, "direction": "credit", "reason": "till error"}
        world.ok(
            post(
                world.client,
                f"/v1/gift-cards/{card.id}/adjustments",
                adjustment,
                world.merchant.manager,
            )
        )
    return Listing("/v1/gift-card-alerts", world.merchant.manager)


def _resellers(world: World) -> Listing:
    for name in ("Mall", "Kiosk", "Online"):
        body = {"name": name, "program_ids": [world.program["id"]]}
        world.ok(
            world.client.post("/v1/gift-card-resellers", json=body, headers=world.merchant.owner)
        )
    return Listing("/v1/gift-card-resellers", world.merchant.manager)


def _loyalty_programs(world: World) -> Listing:
    for name in ("Points", "More points", "Even more points"):
        body = {"kind": "points", "name": name, "currency": "CZK"}
        created = world.client.post(
            "/v1/loyalty-programs", json=body, headers=world.merchant.manager
        )
        world.ok(created)
    return Listing("/v1/loyalty-programs", world.merchant.manager)


def _customer_loyalty(world: World) -> Listing:
    member = enrol(world.client, world.merchant, "+420601000510")
    for name in ("Points", "More points", "Even more points"):
        body = {"kind": "points", "name": name, "currency": "CZK"}
        world.ok(
            world.client.post("/v1/loyalty-programs", json=body, headers=world.merchant.manager)
        )
    return Listing(f"/v1/customers/{member['id']}/loyalty", world.merchant.register)


def _customer_credits(world: World) -> Listing:
    member = enrol(world.client, world.merchant, "+420601000530")
    card = {"size": 2, "reward": "fixed_discount", "reward_value": 100, "delivery": "voucher"}
    body = {"kind": "stamps", "name": "Voucher card", "currency": "CZK", "stamp_card": card}
    world.ok(world.client.post("/v1/loyalty-programs", json=body, headers=world.merchant.manager))
    for index in range(3):
        check = {
            "currency": "CZK",
            "customer_id": member["id"],
            "lines": [{"sku": "TEA", "quantity": 2, "unit_price_minor": 300}],
        }
        headers = {**world.merchant.register, "Idempotency-Key": f"voucher-{index}"}
        world.ok(world.client.post("/v1/checks", json=check, headers=headers))
        world.clock.advance(timedelta(seconds=1))
    return Listing(f"/v1/customers/{member['id']}/credits", world.merchant.register)


def _segments(world: World) -> Listing:
    for name in ("Regulars", "Newcomers", "June birthdays"):
        body = {"name": name, "definition": {}}
        world.ok(world.client.post("/v1/segments", json=body, headers=world.merchant.manager))
    return Listing("/v1/segments", world.merchant.register)


def _segment_members(world: World) -> Listing:
    for index in range(3):
        enrol(world.client, world.merchant, f"+42060100052{index}", first_name="Seg")
    body = {"name": "everyone", "definition": {}}
    segment = world.ok(world.client.post("/v1/segments", json=body, headers=world.merchant.manager))
    return Listing(f"/v1/segments/{segment['id']}/members", world.merchant.register)


def _loyalty_rules(world: World) -> Listing:
    rules = f"/v1/loyalty-programs/{world.points['id']}/rules"
    for index, priority in enumerate((5, 5, 1)):
        body = {
            "name": f"Bonus {index}",
            "priority": priority,
            "benefit": {"kind": "fixed_bonus", "units": 10},
        }
        world.ok(world.client.post(rules, json=body, headers=world.merchant.manager))
    return Listing(rules, world.merchant.manager)


def _checks(world: World) -> Listing:
    for index in range(3):
        body = {
            "currency": "CZK",
            "lines": [{"sku": "TEA", "quantity": 1, "unit_price_minor": 300}],
        }
        headers = {**world.merchant.register, "Idempotency-Key": f"check-{index}"}
        world.ok(world.client.post("/v1/checks", json=body, headers=headers))
        world.clock.advance(timedelta(seconds=1))
    return Listing("/v1/checks", world.merchant.manager)


def _products(world: World) -> Listing:
    for sku in ("TEA", "COFFEE", "CAKE"):
        body = {"sku": sku, "name": sku.title(), "unit_price_minor": 250, "currency": "CZK"}
        world.ok(
            world.client.post("/v1/catalogue/products", json=body, headers=world.merchant.manager)
        )
    return Listing("/v1/catalogue/products", world.merchant.manager)


def _categories(world: World) -> Listing:
    drinks = None
    for name in ("Drinks", "Tea", "Cakes"):
        body = {"name": name, **({"parent_id": drinks["id"]} if name == "Tea" else {})}
        created = world.ok(
            world.client.post("/v1/catalogue/categories", json=body, headers=world.merchant.manager)
        )
        drinks = drinks or created
    return Listing("/v1/catalogue/categories", world.merchant.manager)


def _webhook_endpoints(world: World) -> Listing:
    for index in range(3):
        body = {"url": f"https://hooks.example.com/{index}", "events": ["*"]}
        world.ok(
            world.client.post("/v1/webhook-endpoints", json=body, headers=world.merchant.manager)
        )
    return Listing("/v1/webhook-endpoints", world.merchant.manager)


def _webhook_deliveries(world: World) -> Listing:
    endpoint = world.endpoint
    member = enrol(world.client, world.merchant, "+420601000600")
    for amount in (100, 200, 300):
        world.clock.advance(timedelta(seconds=1))
        world.ok(top_up(world.client, world.merchant, member["id"], amount))
    return Listing(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", world.merchant.manager)


def _merchant_notices(world: World) -> Listing:
    for version in range(3):
        text = f"Version {version} of how Café Bleu processes your personal data."
        world.ok(
            world.client.patch(
                f"/v1/merchants/{world.merchant.id}",
                json={"notice_text": text},
                headers=world.merchant.owner,
            ),
            200,
        )
    return Listing(f"/v1/merchants/{world.merchant.id}/notices", world.merchant.manager)


# Each list operation (by its id) and how to fill it.
FILL: dict[str, Callable[[World], Listing]] = {
    "list_merchants": _merchants,
    "list_merchant_notices": _merchant_notices,
    "find_platform_accounts": _platform_accounts,
    "list_assets": _assets,
    "list_stores": _stores,
    "list_terminals": _terminals,
    "list_staff": _staff,
    "list_api_keys": _api_keys,
    "search_customers": _customers,
    "list_customer_accounts": _customer_accounts,
    "list_account_transfers": _account_transfers,
    "list_my_accounts": _my_accounts,
    "list_my_transfers": _my_transfers,
    "list_bonus_campaigns": _campaigns,
    "list_bonus_codes": _codes,
    "list_bonus_codes_mails": _codes_mails,
    "list_bonus_payouts": _payouts,
    "list_bank_payments": _bank_payments,
    "list_gift_card_programs": _gift_card_programs,
    "list_ecard_mails": _ecard_mails,
    "list_gift_cards": _gift_cards,
    "list_gift_card_operations": _gift_card_operations,
    "list_my_gift_cards": _my_gift_cards,
    "list_gift_card_alert_rules": _alert_rules,
    "list_gift_card_alerts": _alerts,
    "list_gift_card_resellers": _resellers,
    "list_loyalty_programs": _loyalty_programs,
    "list_loyalty_rules": _loyalty_rules,
    "get_customer_loyalty": _customer_loyalty,
    "list_customer_credits": _customer_credits,
    "list_segments": _segments,
    "list_segment_members": _segment_members,
    "list_checks": _checks,
    "list_products": _products,
    "list_categories": _categories,
    "list_webhook_endpoints": _webhook_endpoints,
    "list_webhook_deliveries": _webhook_deliveries,
}


# A tree is not a list: its top categories, each with its subcategories.
NOT_LISTS = {"get_category_tree"}


def bare_arrays(document: dict[str, Any]) -> set[str]:
    """Every GET that answers a bare JSON array."""
    found = set()
    for item in document["paths"].values():
        operation = item.get("get")
        content = operation["responses"].get("200", {}).get("content", {}) if operation else {}
        schema = content.get("application/json", {}).get("schema", {})
        if schema.get("type") == "array":
            found.add(operation["operationId"])
    return found


def list_operations(document: dict[str, Any]) -> dict[str, str]:
    """Every GET whose answer is a page: operation id → path."""
    found = {}
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        schema = operation["responses"]["200"]["content"].get("application/json", {}).get("schema")
        if schema and schema.get("$ref", "").endswith("Page"):
            found[operation["operationId"]] = path
    return found


@pytest.fixture
def world(client, services, clock, mailer, operator_key, merchant) -> World:
    return World(client, services, clock, mailer, operator_key, merchant)


def test_every_list_answers_a_page_and_each_is_walked_below(client):
    document = client.get("/openapi.json").json()
    lists = list_operations(document)
    assert lists.keys() == FILL.keys()
    assert bare_arrays(document) == NOT_LISTS
    for operation_id, path in lists.items():
        parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert parameters["limit"]["schema"]["maximum"] == PAGE_LIMIT_MAX, operation_id
        assert parameters["limit"]["schema"]["default"] == LIMIT_DEFAULT, operation_id
        assert "cursor" in parameters, operation_id
        responses = document["paths"][path]["get"]["responses"]
        assert {"400", "422"} <= responses.keys(), operation_id
    page = document["components"]["schemas"]["StorePage"]
    assert set(page["required"]) == {"items", "next_cursor"}


def walk(world: World, listing: Listing) -> list[dict]:
    """The list one item a page, following next_cursor to the end."""
    items, cursor = [], None
    for _ in range(PAGE_LIMIT_MAX):
        params = {**listing.params, "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = world.ok(world.client.get(listing.path, params=params, headers=listing.headers), 200)
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 1
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a page before the last holds an item"
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("operation_id", sorted(FILL))
def test_a_list_walked_one_item_a_page_shows_each_item_once(world, operation_id):
    listing = FILL[operation_id](world)
    whole = world.client.get(
        listing.path, params={**listing.params, "limit": PAGE_LIMIT_MAX}, headers=listing.headers
    )
    whole = world.ok(whole, 200)
    assert whole["next_cursor"] is None
    assert len(whole["items"]) >= listing.items_at_least, whole["items"]

    walked = walk(world, listing)

    assert walked == whole["items"]
    keys = [item.get("id", item.get("code")) for item in walked]
    if None not in keys:
        assert len(set(keys)) == len(keys), keys


def _forged(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS = (
    "!!!",
    "bm90IGpzb24",  # base64 of "not json"
    _forged(["another_list", "2026-01-05T09:00:00+00:00", str(uuid.uuid4())]),
    _forged([]),
)


@pytest.mark.parametrize("operation_id", sorted(FILL))
def test_a_list_refuses_a_cursor_it_did_not_give_and_a_limit_above_the_maximum(world, operation_id):
    listing = FILL[operation_id](world)
    for cursor in BAD_CURSORS:
        refused = world.client.get(
            listing.path, params={**listing.params, "cursor": cursor}, headers=listing.headers
        )
        assert refused.status_code == 400, (cursor, refused.text)
        assert refused.json()["code"] == "invalid_cursor"
    # Another list's real cursor is refused too.
    first = world.client.get(
        listing.path, params={**listing.params, "limit": 1}, headers=listing.headers
    ).json()
    if first["next_cursor"] is not None:
        other = "/v1/stores" if listing.path != "/v1/stores" else "/v1/terminals"
        refused = world.client.get(
            other, params={"cursor": first["next_cursor"]}, headers=world.merchant.owner
        )
        assert (refused.status_code, refused.json()["code"]) == (400, "invalid_cursor")
    for limit in (0, PAGE_LIMIT_MAX + 1):
        too_many = world.client.get(
            listing.path, params={**listing.params, "limit": limit}, headers=listing.headers
        )
        assert too_many.status_code == 422, too_many.text
        assert too_many.json()["code"] == "validation_error"


def test_a_page_written_meanwhile_neither_repeats_nor_skips(world):
    """Keyset, not OFFSET: a store opened while a client pages comes after what it saw."""
    _stores(world)
    first = world.ok(
        world.client.get("/v1/stores", params={"limit": 2}, headers=world.merchant.owner), 200
    )
    world.clock.advance(timedelta(seconds=1))
    world.ok(world.client.post("/v1/stores", json={"name": "West"}, headers=world.merchant.owner))
    rest = world.ok(
        world.client.get(
            "/v1/stores",
            params={"limit": 200, "cursor": first["next_cursor"]},
            headers=world.merchant.owner,
        ),
        200,
    )
    names = [s["name"] for s in first["items"] + rest["items"]]
    assert names == ["Café Bleu main", "North", "South", "West"]

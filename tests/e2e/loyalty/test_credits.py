"""Rewards for later: purchase vouchers, next-purchase discounts, loyalty credit (worked examples).

A coffee costs 0.80 CZK (80 minor units) unless said otherwise. Each stamps
program's card says how its reward is delivered; the amounts are written out.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cagnotte.checkout.credits import breakage_spec, credit_account_spec
from tests.e2e.api.conftest import enrol

COFFEE = {"sku": "COFFEE", "quantity": 1, "unit_price_minor": 80}


@pytest.fixture
def member(client, merchant):
    return enrol(client, merchant, "+420601300300")


def card_program(client, merchant, **card) -> dict:
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "stamps", "name": "Coffee card", "currency": "CZK", "stamp_card": card},
    )
    assert response.status_code == 201, response.text
    return response.json()


def voucher_card(client, merchant) -> dict:
    """Ten stamps give a voucher of 5.00 CZK, valid 30 days."""
    return card_program(
        client,
        merchant,
        size=10,
        reward="fixed_discount",
        reward_value=500,
        delivery="voucher",
        valid_days=30,
    )


def check(client, merchant, key, member, lines, **uses):
    response = client.post(
        "/v1/checks",
        json={"currency": "CZK", "customer_id": member["id"], "lines": lines, **uses},
        headers={**merchant.register, "Idempotency-Key": key},
    )
    return response


def committed(client, merchant, key, member, lines, **uses) -> dict:
    response = check(client, merchant, key, member, lines, **uses)
    assert response.status_code == 201, response.text
    return response.json()


def refund(client, merchant, check_id, key, lines=None) -> dict:
    response = client.post(
        f"/v1/checks/{check_id}/refunds",
        json={} if lines is None else {"lines": lines},
        headers={**merchant.register, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return response.json()


def credits_of(client, merchant, member, **query) -> list[dict]:
    response = client.get(
        f"/v1/customers/{member['id']}/credits", headers=merchant.register, params=query
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def credit_balance(services, merchant, program, member) -> int:
    """The member's credit account in the program: vouchers and credit left."""
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(program["id"]))
    account = services.ledger.open_account(
        uuid.UUID(merchant.id), credit_account_spec(loaded, uuid.UUID(member["id"]))
    )
    return services.ledger.balance(account).credit_balance


def breakage(services, merchant) -> int:
    account = services.ledger.open_account(
        uuid.UUID(merchant.id), breakage_spec(uuid.UUID(merchant.id), "CZK")
    )
    return services.ledger.balance(account).credit_balance


def kinds(answer) -> list[tuple[str, str, int, int]]:
    return [(e["contributor"], e["kind"], e["units"], e["value_minor"]) for e in answer["effects"]]


def test_a_full_card_issues_a_voucher_that_a_later_check_uses_once_the_rest_forfeited(
    client, merchant, services, member
):
    program = voucher_card(client, merchant)
    # Ten coffees (8.00) fill the card: nothing off this check, a 5.00 voucher for later.
    filling = committed(client, merchant, "fill", member, [{**COFFEE, "quantity": 10}])
    assert kinds(filling) == [
        ("loyalty", "stamps", 10, 0),
        ("loyalty", "reward", 10, 0),
        ("credits", "issue_voucher", 500, 500),
    ]
    assert filling["discount_minor"] == 0 and filling["due_minor"] == 800
    assert filling["credits"] == []  # issued by this check: not usable by it
    (voucher,) = credits_of(client, merchant, member)
    assert (voucher["kind"], voucher["remaining_minor"], voucher["state"]) == (
        "voucher",
        500,
        "open",
    )
    assert voucher["issuing_check_id"] == filling["id"]
    assert credit_balance(services, merchant, program, member) == 500

    # The next check, four coffees (3.20 CZK): the quote offers the voucher.
    quote = client.post(
        "/v1/checks/quotes",
        json={"currency": "CZK", "customer_id": member["id"], "lines": [{**COFFEE, "quantity": 4}]},
        headers=merchant.register,
    ).json()
    assert [(c["credit_id"], c["gives_minor"], c["applied"]) for c in quote["credits"]] == [
        (voucher["id"], 320, False)
    ]
    assert quote["due_minor"] == 320
    using = committed(
        client,
        merchant,
        "use",
        member,
        [{**COFFEE, "quantity": 4}],
        use_vouchers=[voucher["id"]],
    )
    # The voucher pays 3.20; single use, its other 1.80 is forfeited to breakage.
    assert [k for k in kinds(using) if k[0] == "credits"] == [
        ("credits", "spend", 320, 320),
        ("credits", "forfeit", 180, 0),
    ]
    assert using["loyalty_paid_minor"] == 320 and using["due_minor"] == 0
    (used,) = credits_of(client, merchant, member)
    assert (used["state"], used["remaining_minor"], used["used_value_minor"]) == ("used", 0, 320)
    assert used["using_check_id"] == using["id"]
    assert credit_balance(services, merchant, program, member) == 0
    assert breakage(services, merchant) == 180

    # It cannot be used again.
    again = check(client, merchant, "again", member, [COFFEE], use_vouchers=[voucher["id"]])
    assert again.status_code == 409 and again.json()["code"] == "credit_not_usable"

    # Refunding the check that used it gives the whole voucher back (its rest too).
    back = refund(client, merchant, using["id"], "refund-use")
    assert back["money_back_minor"] == 0  # the voucher paid it all: no money goes back
    (reopened,) = credits_of(client, merchant, member)
    assert (reopened["state"], reopened["remaining_minor"], reopened["used_value_minor"]) == (
        "open",
        500,
        0,
    )
    assert credit_balance(services, merchant, program, member) == 500
    assert breakage(services, merchant) == 0

    # Refunding the check that issued it, the voucher unused: voided, the card given back.
    issuing_back = refund(client, merchant, filling["id"], "refund-fill")
    assert issuing_back["kept_off_refund_minor"] == 0
    assert issuing_back["other_means_minor"] == 800
    (voided,) = credits_of(client, merchant, member)
    assert (voided["state"], voided["remaining_minor"]) == ("voided", 0)
    assert credit_balance(services, merchant, program, member) == 0


def test_refunding_the_issuing_check_after_the_voucher_was_used_keeps_its_value_off(
    client, merchant, services, member
):
    program = voucher_card(client, merchant)
    filling = committed(client, merchant, "fill", member, [{**COFFEE, "quantity": 10}])
    (voucher,) = credits_of(client, merchant, member)
    committed(
        client, merchant, "use", member, [{**COFFEE, "quantity": 4}], use_vouchers=[voucher["id"]]
    )
    back = refund(client, merchant, filling["id"], "refund-fill")
    # 8.00 back for the ten coffees, less the 3.20 the voucher already gave.
    assert back["money_back_minor"] == 800
    assert back["kept_off_refund_minor"] == 320
    assert back["other_means_minor"] == 480
    (still_used,) = credits_of(client, merchant, member)
    assert still_used["state"] == "used"
    assert credit_balance(services, merchant, program, member) == 0


def test_a_next_purchase_discount_applies_to_the_next_check_only(client, merchant, member):
    card_program(
        client,
        merchant,
        size=4,
        reward="percent_discount",
        reward_value=1_000,
        delivery="next_purchase",
    )
    latte = {"sku": "LATTE", "quantity": 1, "unit_price_minor": 5_000}
    cake = {"sku": "CAKE", "quantity": 1, "unit_price_minor": 7_500}
    # Four lattes fill the card of 4: 10 % is kept for the next purchase, none off now.
    filling = committed(client, merchant, "fill", member, [{**latte, "quantity": 4}])
    assert filling["discount_minor"] == 0 and filling["due_minor"] == 20_000
    assert [k for k in kinds(filling) if k[0] == "credits"] == [("credits", "issue_discount", 0, 0)]
    (kept,) = credits_of(client, merchant, member)
    assert (kept["kind"], kept["reward"], kept["reward_value"]) == (
        "next_purchase",
        "percent_discount",
        1_000,
    )
    # The next check (a latte and a cake, 125.00): 10 % off by itself, 12.50.
    following = committed(client, merchant, "next", member, [latte, cake])
    assert [k for k in kinds(following) if k[0] == "credits"] == [("credits", "discount", 0, 1_250)]
    assert [line["discount_minor"] for line in following["lines"]] == [500, 750]
    assert following["due_minor"] == 12_500 - 1_250
    assert [(c["applied"], c["gives_minor"]) for c in following["credits"]] == [(True, 1_250)]
    (used,) = credits_of(client, merchant, member)
    assert (used["state"], used["used_value_minor"]) == ("used", 1_250)
    # One discount, used once: the check after gets nothing off.
    after = committed(client, merchant, "after", member, [cake])
    assert after["discount_minor"] == 0 and after["credits"] == []


def test_loyalty_credit_is_spent_in_part(client, merchant, services, member):
    program = card_program(
        client, merchant, size=5, reward="fixed_discount", reward_value=200, delivery="credit"
    )
    tea = {"sku": "TEA", "quantity": 1, "unit_price_minor": 300}
    committed(client, merchant, "fill", member, [{**COFFEE, "quantity": 5}])
    (credit,) = credits_of(client, merchant, member)
    assert (credit["kind"], credit["remaining_minor"]) == ("credit", 200)
    # A tea of 3.00: 1.50 of the 2.00 credit pays part of it, 0.50 stays.
    first = committed(client, merchant, "first", member, [tea], use_credit_minor=150)
    assert [k for k in kinds(first) if k[0] == "credits"] == [("credits", "spend", 150, 150)]
    assert first["due_minor"] == 150
    (partly,) = credits_of(client, merchant, member)
    assert (partly["state"], partly["remaining_minor"]) == ("open", 50)
    assert credit_balance(services, merchant, program, member) == 50
    too_much = check(client, merchant, "too-much", member, [tea], use_credit_minor=100)
    assert too_much.status_code == 422 and too_much.json()["code"] == "insufficient_funds"
    # A credit is used only when the check asks: a check without use_credit_minor keeps it.
    kept = committed(client, merchant, "kept", member, [tea])
    assert [(c["kind"], c["gives_minor"], c["applied"]) for c in kept["credits"]] == [
        ("credit", 50, False)
    ]
    last = committed(client, merchant, "last", member, [tea], use_credit_minor=50)
    assert last["due_minor"] == 250
    assert credits_of(client, merchant, member)[0]["state"] == "used"
    assert credit_balance(services, merchant, program, member) == 0
    # Refunding the first check gives its 1.50 back to the credit, open again.
    refund(client, merchant, first["id"], "refund-first")
    (reopened,) = credits_of(client, merchant, member)
    assert (reopened["state"], reopened["remaining_minor"]) == ("open", 150)
    assert credit_balance(services, merchant, program, member) == 150


def test_an_unused_voucher_expires_into_breakage(client, merchant, services, member, clock):
    program = voucher_card(client, merchant)
    committed(client, merchant, "fill", member, [{**COFFEE, "quantity": 10}])
    (voucher,) = credits_of(client, merchant, member)
    clock.advance(timedelta(days=29))
    assert services.checkout.expire_credits() == 0
    clock.advance(timedelta(days=1))
    late = check(client, merchant, "late", member, [COFFEE], use_vouchers=[voucher["id"]])
    assert late.status_code == 409 and late.json()["code"] == "credit_not_usable"
    assert services.checkout.expire_credits() == 1
    assert services.checkout.expire_credits() == 0
    (expired,) = credits_of(client, merchant, member)
    assert (expired["state"], expired["remaining_minor"]) == ("expired", 0)
    assert credit_balance(services, merchant, program, member) == 0
    assert breakage(services, merchant) == 500
    assert credits_of(client, merchant, member, state="open") == []


def test_another_members_voucher_is_not_usable(client, merchant, member):
    voucher_card(client, merchant)
    committed(client, merchant, "fill", member, [{**COFFEE, "quantity": 10}])
    (voucher,) = credits_of(client, merchant, member)
    other = enrol(client, merchant, "+420601300301")
    response = check(client, merchant, "steal", other, [COFFEE], use_vouchers=[voucher["id"]])
    assert response.status_code == 409 and response.json()["code"] == "credit_not_usable"
    unknown = check(client, merchant, "unknown", member, [COFFEE], use_vouchers=[str(uuid.uuid4())])
    assert unknown.status_code == 409 and unknown.json()["code"] == "credit_not_usable"


def test_a_voucher_or_credit_card_needs_a_fixed_amount(client, merchant):
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "stamps",
            "name": "Card",
            "currency": "CZK",
            "stamp_card": {"size": 5, "reward": "free_item", "delivery": "voucher"},
        },
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_the_customer_card_counts_open_credits_per_kind(client, merchant, member):
    voucher_card(client, merchant)
    committed(client, merchant, "fill-1", member, [{**COFFEE, "quantity": 10}])
    committed(client, merchant, "fill-2", member, [{**COFFEE, "quantity": 10}])
    card = client.get(f"/v1/customers/{member['id']}/card", headers=merchant.register).json()
    assert card["open_credits"] == [{"kind": "voucher", "count": 2, "value_minor": 1_000}]


def test_a_kitty_that_reaches_its_threshold_turns_into_a_voucher(
    client, merchant, services, member
):
    # 5 % of each purchase into the kitty; at 5.00 CZK the kitty becomes a voucher of 5.00.
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "kitty",
            "name": "Kitty",
            "currency": "CZK",
            "kitty_voucher": {"threshold_minor": 500, "valid_days": 30},
        },
    )
    assert response.status_code == 201, response.text
    kitty = response.json()
    loaded = services.loyalty.program(uuid.UUID(merchant.id), uuid.UUID(kitty["id"]))
    kitty_account = services.loyalty.member_account(loaded, uuid.UUID(member["id"]))
    meal = {"sku": "MEAL", "quantity": 1, "unit_price_minor": 6_000}
    # 60.00: 3.00 into the kitty, below the threshold.
    first = committed(client, merchant, "first", member, [meal])
    assert [k for k in kinds(first) if k[0] == "credits"] == []
    assert services.ledger.balance(kitty_account).credit_balance == 300
    # Another 60.00: 6.00 in the kitty, 5.00 of it turned into a voucher, 1.00 stays.
    second = committed(client, merchant, "second", member, [meal])
    assert [k for k in kinds(second) if k[0] == "credits"] == [
        ("credits", "kitty_voucher", 500, 500)
    ]
    assert services.ledger.balance(kitty_account).credit_balance == 100
    (voucher,) = credits_of(client, merchant, member)
    assert (voucher["kind"], voucher["remaining_minor"]) == ("voucher", 500)
    assert credit_balance(services, merchant, kitty, member) == 500
    # The voucher pays 4.00 of a later check (single use: the other 1.00 is forfeited).
    later = committed(
        client,
        merchant,
        "later",
        member,
        [{"sku": "SOUP", "quantity": 1, "unit_price_minor": 400}],
        use_vouchers=[voucher["id"]],
    )
    assert later["due_minor"] == 0
    assert credit_balance(services, merchant, kitty, member) == 0
    # Refunding the second check takes back the 3.00 it earned: 1.00 from the kitty, and
    # the 2.00 turned into the voucher and spent kept off the money returned.
    back = refund(client, merchant, second["id"], "refund-second")
    assert back["kept_off_refund_minor"] == 200
    assert services.ledger.balance(kitty_account).credit_balance == 0
    assert credits_of(client, merchant, member)[0]["state"] == "used"


def test_only_a_kitty_turns_into_vouchers(client, merchant):
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={
            "kind": "points",
            "name": "Points",
            "currency": "CZK",
            "kitty_voucher": {"threshold_minor": 500},
        },
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_bad_uses_of_credits_are_clear_problems(client, merchant, member):
    voucher_card(client, merchant)
    committed(client, merchant, "fill", member, [{**COFFEE, "quantity": 10}])
    (voucher,) = credits_of(client, merchant, member)
    cases = [
        ({"customer_id": member["id"], "use_vouchers": ["not-a-uuid"]}, 422, "validation_error"),
        ({"customer_id": member["id"], "use_credit_minor": 0}, 422, "validation_error"),
        ({"use_vouchers": [voucher["id"]]}, 422, "invalid_input"),
        (
            {"customer_id": member["id"], "use_vouchers": [voucher["id"], voucher["id"]]},
            422,
            "invalid_input",
        ),
        ({"customer_id": member["id"], "use_credit_minor": 100}, 422, "insufficient_funds"),
    ]
    for index, (body, status, code) in enumerate(cases):
        response = client.post(
            "/v1/checks",
            json={"currency": "CZK", "lines": [COFFEE], **body},
            headers={**merchant.register, "Idempotency-Key": f"bad-{index}"},
        )
        assert (response.status_code, response.json()["code"]) == (status, code), body
    listing = client.get(
        f"/v1/customers/{member['id']}/credits", headers=merchant.register, params={"state": "x"}
    )
    assert listing.status_code == 422 and listing.json()["code"] == "validation_error"
    # None of them used the voucher.
    assert credits_of(client, merchant, member)[0]["state"] == "open"


def test_an_offline_check_sent_twice_uses_its_voucher_once_at_its_own_time(
    client, merchant, services, member, clock
):
    program = voucher_card(client, merchant)
    committed(client, merchant, "fill", member, [{**COFFEE, "quantity": 10}])
    (voucher,) = credits_of(client, merchant, member)
    made_at = clock.now() + timedelta(days=29)
    # Sent two days later: the voucher had expired by then, but not when the check was made.
    clock.advance(timedelta(days=31))
    batch = {
        "checks": [
            {
                "idempotency_key": "till-9-1",
                "currency": "CZK",
                "customer_id": member["id"],
                "occurred_at": made_at.isoformat(),
                "lines": [{**COFFEE, "quantity": 4}],
                "use_vouchers": [voucher["id"]],
            }
        ]
    }
    first = client.post("/v1/checks/offline-batches", json=batch, headers=merchant.register)
    assert [o["status"] for o in first.json()] == ["committed"], first.text
    again = client.post("/v1/checks/offline-batches", json=batch, headers=merchant.register)
    assert [o["status"] for o in again.json()] == ["replayed"]
    (used,) = credits_of(client, merchant, member)
    assert (used["state"], used["used_value_minor"]) == ("used", 320)
    assert credit_balance(services, merchant, program, member) == 0
    assert services.checkout.expire_credits() == 0

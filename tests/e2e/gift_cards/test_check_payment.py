"""A register check paid with a gift card (and a wallet after it): one entry, refunded back.

The cards are of a CZK program with PINs (the fixtures' program is in CAD);
the check earns points of a points program at its base rate, 1 point per
10.00 CZK, on what the customer paid by any means.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from cagnotte.checkout.tables import checks
from tests.e2e.api.conftest import enrol, top_up
from tests.e2e.api.test_wallets import wallet_balance
from tests.e2e.gift_cards.conftest import Card, activate, balance, create_program, new_cards

CAKE = {"sku": "CAKE", "quantity": 1, "unit_price_minor": 15_000}  # 150.00 CZK


def _points_program(client, merchant) -> dict:
    response = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Points", "currency": "CZK"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _card(client, merchant, amount: int) -> Card:
    program = create_program(client, merchant, name="Karta", asset="CZK")
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, amount).status_code == 201
    return card


def _check(client, merchant, card, key, *, pin="use card", **body):
    use = {"number": card.number, "pin": card.pin if pin == "use card" else pin}
    return client.post(
        "/v1/checks",
        json={"currency": "CZK", "lines": [CAKE], "use_gift_card": use, **body},
        headers={**merchant.register, "Idempotency-Key": key},
    )


def test_a_gift_card_pays_what_it_holds_and_a_refund_puts_it_back(client, merchant):
    _points_program(client, merchant)
    card = _card(client, merchant, 10_000)
    member = enrol(client, merchant, "+420601600001")
    committed = _check(client, merchant, card, "gc-1", customer_id=member["id"])
    assert committed.status_code == 201, committed.text
    answer = committed.json()
    (payment,) = [e for e in answer["effects"] if e["kind"] == "payment"]
    assert payment["contributor"] == "gift_card" and payment["units"] == 10_000
    assert answer["due_minor"] == 5_000
    assert [e["units"] for e in answer["effects"] if e["kind"] == "earn"] == [15]
    assert balance(client, merchant, card) == 0
    # The retry answers the first commit and spends nothing more.
    again = _check(client, merchant, card, "gc-1", customer_id=member["id"])
    assert again.status_code == 201 and again.json()["id"] == answer["id"]
    refund = client.post(
        f"/v1/checks/{answer['id']}/refunds",
        json={},
        headers={**merchant.register, "Idempotency-Key": "gc-refund"},
    )
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert body["to_gift_card_minor"] == 10_000
    assert body["other_means_minor"] == 5_000
    assert balance(client, merchant, card) == 10_000


def test_the_card_pays_first_and_the_wallet_the_rest(client, merchant, services):
    card = _card(client, merchant, 4_000)
    member = enrol(client, merchant, "+420601600002")
    assert top_up(client, merchant, member["id"], 20_000, key="w").status_code == 201
    committed = _check(client, merchant, card, "gc-2", customer_id=member["id"], use_wallet={})
    assert committed.status_code == 201, committed.text
    paid = {e["contributor"]: e["units"] for e in committed.json()["effects"]}
    assert paid == {"gift_card": 4_000, "wallet": 11_000}
    assert committed.json()["due_minor"] == 0
    assert balance(client, merchant, card) == 0
    assert wallet_balance(client, merchant, member["id"]) == 9_000


def test_a_wrong_pin_or_an_unknown_card_pays_nothing_and_records_no_check(
    client, merchant, services
):
    card = _card(client, merchant, 10_000)
    wrong = _check(client, merchant, card, "gc-3", pin="0000" if card.pin != "0000" else "1111")
    assert wrong.status_code == 422 and wrong.json()["code"] == "gift_card_invalid"
    card.number = "9" * len(card.number)
    unknown = _check(client, merchant, card, "gc-4")
    assert unknown.json()["code"] == "gift_card_invalid"
    with services.database.read() as connection:
        assert connection.execute(select(func.count()).select_from(checks)).scalar_one() == 0


def test_an_anonymous_check_may_be_paid_by_gift_card_and_the_quote_says_how(client, merchant):
    card = _card(client, merchant, 20_000)
    quote = client.post(
        "/v1/checks/quotes",
        json={
            "currency": "CZK",
            "lines": [CAKE],
            "use_gift_card": {"number": card.number, "pin": card.pin, "amount_minor": 6_000},
        },
        headers=merchant.register,
    )
    assert quote.status_code == 200, quote.text
    assert quote.json()["due_minor"] == 9_000
    assert balance(client, merchant, card) == 20_000  # a quote spends nothing
    # Committed without an amount, the card pays all of the check it can.
    committed = _check(client, merchant, card, str(uuid.uuid4()))
    assert committed.status_code == 201, committed.text
    assert committed.json()["due_minor"] == 0
    assert balance(client, merchant, card) == 5_000

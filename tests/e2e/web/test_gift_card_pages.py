"""Gift card pages: the back-office alerts, card lookup and reports; the customer's cards."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

from openpyxl import load_workbook

from tests.e2e.gift_cards.conftest import (
    activate,
    balance,
    create_program,
    new_cards,
    post,
    spend,
)
from tests.e2e.web.conftest import (
    add_staff,
    csrf_of,
    customer_with_wallet,
    sign_in_customer,
    sign_in_staff,
)

MANAGER = "marie@cafe-bleu.example"
CASHIER = "eva@cafe-bleu.example"
PAGES = "/back-office/gift-cards"


def signed_in_manager(client, merchant):
    add_staff(client, merchant, MANAGER, name="Marie Gérante", role="manager")
    assert sign_in_staff(client, MANAGER).status_code == 200


def alert_rule(client, merchant, **body):
    response = client.post("/v1/gift-card-alert-rules", json=body, headers=merchant.manager)
    assert response.status_code == 201, response.text


def without_tags(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# The back-office ----------------------------------------------------------------------


def test_pages_need_a_staff_session(client, merchant):
    for path in (PAGES, f"{PAGES}/cards", f"{PAGES}/reports", f"{PAGES}/reports/liability.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/back-office/sign-in"


def test_the_dashboard_links_a_manager_but_not_a_cashier_to_the_gift_card_pages(client, merchant):
    signed_in_manager(client, merchant)
    dashboard = client.get("/back-office")
    add_staff(client, merchant, CASHIER)
    sign_in_staff(client, CASHIER)
    cashiers_dashboard = client.get("/back-office")
    for path in (PAGES, f"{PAGES}/cards", f"{PAGES}/reports"):
        assert f'href="{path}"' in dashboard.text
        assert f'href="{path}"' not in cashiers_dashboard.text


def test_a_manager_sees_the_alerts_newest_first_and_never_another_merchants(
    client, merchant, other_merchant, clock
):
    for shop in (merchant, other_merchant):
        alert_rule(client, shop, kind="large_load", threshold_minor=20_000)
        alert_rule(client, shop, kind="manual_adjustment")
    program = create_program(client, merchant)
    rival_program = create_program(client, other_merchant)
    (card,) = new_cards(client, merchant, program, 1)
    (rival_card,) = new_cards(client, other_merchant, rival_program, 1)
    assert activate(client, merchant, card, 25_000).status_code == 201
    assert activate(client, other_merchant, rival_card, 30_000).status_code == 201
    clock.advance(timedelta(minutes=5))
    adjusted = client.post(
        f"/v1/gift-cards/{card.id}/adjustments",
        json={"amount_minor": 700, "direction": "credit", "reason": "till"},
        headers={**merchant.manager, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert adjusted.status_code == 201, adjusted.text
    signed_in_manager(client, merchant)

    page = client.get(PAGES)

    assert page.status_code == 200
    text = without_tags(page.text)
    assert "Large load" in text and "250,00 CA$" in text and f"…{card.number[-4:]}" in text
    assert "Café Bleu main · Till 1" in text
    assert text.index("Manual adjustment") < text.index("Large load")  # newest first
    assert "300,00 CA$" not in text
    assert rival_card.number[-4:] not in text or rival_card.number[-4:] == card.number[-4:]
    assert card.number not in page.text and card.pin not in page.text


def test_a_cashier_is_refused_the_gift_card_pages(client, merchant):
    add_staff(client, merchant, CASHIER)
    sign_in_staff(client, CASHIER)
    for path in (
        PAGES,
        f"{PAGES}/cards?q=1234",
        f"{PAGES}/reports",
        f"{PAGES}/reports/liability.csv",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Your role (cashier) does not open the gift card back-office" in response.text


def test_a_card_is_found_by_its_last_digits_or_number_with_its_state_balance_and_history(
    client, merchant, clock
):
    program = create_program(client, merchant)
    (card,) = new_cards(client, merchant, program, 1)
    activate(client, merchant, card, 10_000)
    clock.advance(timedelta(minutes=1))
    assert spend(client, merchant, card, 2_550).status_code == 201
    signed_in_manager(client, merchant)

    by_digits = client.get(f"{PAGES}/cards", params={"q": card.number[-4:]})
    by_number = client.get(f"{PAGES}/cards", params={"q": card.number})

    for found in (by_digits, by_number):
        assert found.status_code == 200
        assert f'href="{PAGES}/cards/{card.id}"' in found.text
        assert "74,50\u00a0CA$" in found.text and "Active" in found.text
    detail = client.get(f"{PAGES}/cards/{card.id}")
    text = without_tags(detail.text)
    assert "Gift card …" + card.number[-4:] in text
    assert "74,50 CA$" in text and "Active" in text
    assert "Activation" in text and "+100,00 CA$" in text
    assert "Spend" in text and "\u221225,50 CA$" in text
    assert text.index("Spend") < text.index("Activation")  # newest first
    for page in (by_digits, by_number, detail):
        assert card.number not in page.text.replace(f'value="{card.number}"', "")
        assert card.pin not in without_tags(page.text)


def test_a_lookup_that_is_neither_four_digits_nor_a_number_says_so(client, merchant):
    signed_in_manager(client, merchant)
    response = client.get(f"{PAGES}/cards", params={"q": "12ab"})
    assert response.status_code == 400
    assert "Enter a card&#39;s last four digits or its whole number." in response.text


def test_another_merchants_card_is_never_shown(client, merchant, other_merchant):
    rival_program = create_program(client, other_merchant)
    (rival_card,) = new_cards(client, other_merchant, rival_program, 1)
    activate(client, other_merchant, rival_card, 10_000)
    signed_in_manager(client, merchant)

    by_number = client.get(f"{PAGES}/cards", params={"q": rival_card.number})
    by_digits = client.get(f"{PAGES}/cards", params={"q": rival_card.number[-4:]})
    by_address = client.get(f"{PAGES}/cards/{rival_card.id}")

    assert "No card matches." in by_number.text and "No card matches." in by_digits.text
    assert by_address.status_code == 404 and "100,00\u00a0CA$" not in by_address.text


def test_report_figures_match_the_api(client, merchant):
    program = create_program(client, merchant)
    first, second = new_cards(client, merchant, program, 2)
    activate(client, merchant, first, 10_000)
    activate(client, merchant, second, 4_000)
    spent = spend(client, merchant, first, 3_000).json()
    post(
        client,
        f"/v1/gift-cards/spends/{spent['id']}/refunds",
        {"amount_minor": 500},
        merchant.register,
    )
    liability = client.get("/v1/gift-card-reports/liability", headers=merchant.manager).json()
    activity = client.get(
        "/v1/gift-card-reports/activity?from=2026-01-01&to=2026-01-31", headers=merchant.manager
    ).json()
    signed_in_manager(client, merchant)

    page = client.get(f"{PAGES}/reports", params={"from": "2026-01-01", "to": "2026-01-31"})

    assert page.status_code == 200
    text = without_tags(page.text)
    (program_row,) = liability
    assert program_row["outstanding_minor"] == 11_500
    assert f"{program['name']} 0 2 0 0 115,00 CA$" in text
    (day,) = activity
    assert (day["loaded_minor"], day["spent_minor"], day["refunded_minor"]) == (14_000, 3_000, 500)
    assert (
        f"{day['business_date']} Café Bleu main {program['name']} {day['operations']} "
        "140,00 CA$ 30,00 CA$ 5,00 CA$ 0,00 CA$ 0,00 CA$"
    ) in text


def test_a_backwards_period_is_refused_with_a_message(client, merchant):
    signed_in_manager(client, merchant)
    page = client.get(f"{PAGES}/reports", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert page.status_code == 400 and "A period runs forward" in page.text


def test_report_downloads_are_the_services_exports(client, merchant):
    program = create_program(client, merchant)
    (card,) = new_cards(client, merchant, program, 1)
    activate(client, merchant, card, 10_000)
    signed_in_manager(client, merchant)
    period = {"from": "2026-01-01", "to": "2026-01-31"}

    liability_csv = client.get(f"{PAGES}/reports/liability.csv")
    activity_csv = client.get(f"{PAGES}/reports/activity.csv", params=period)
    activity_xlsx = client.get(f"{PAGES}/reports/activity.xlsx", params=period)

    assert liability_csv.status_code == 200
    assert liability_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="gift-card-liability.csv"' in liability_csv.headers["content-disposition"]
    api_csv = client.get("/v1/gift-card-reports/liability?format=csv", headers=merchant.manager)
    assert liability_csv.text == api_csv.text
    header, row = liability_csv.text.splitlines()
    assert header.startswith("program_id,program_name") and row.endswith(",10000")
    api_activity = client.get(
        "/v1/gift-card-reports/activity?from=2026-01-01&to=2026-01-31&format=csv",
        headers=merchant.manager,
    )
    assert activity_csv.text == api_activity.text and ",10000," in activity_csv.text
    rows = list(load_workbook(io.BytesIO(activity_xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "business_date" and rows[1][5] == 10_000


# Operations on a card (back-office forms) -------------------------------------------------


def active_card(client, merchant, amount=10_000):
    program = create_program(client, merchant)
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, amount).status_code == 201
    return card


def card_state(client, merchant, card) -> str:
    response = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager)
    assert response.status_code == 200, response.text
    return response.json()["state"]


def operate(client, card, action, token=None, **fields):
    """Send one of the card page's forms, with the page's CSRF token unless one is given."""
    if token is None:
        token = csrf_of(client.get(f"{PAGES}/cards/{card.id}").text)
    return client.post(
        f"{PAGES}/cards/{card.id}/{action}",
        data={"csrf_token": token, **fields},
        follow_redirects=False,
    )


def test_a_manager_freezes_and_unfreezes_a_card_and_a_frozen_card_takes_no_spend(client, merchant):
    card = active_card(client, merchant)
    signed_in_manager(client, merchant)

    frozen = operate(client, card, "freeze")

    assert frozen.status_code == 303
    assert frozen.headers["location"] == f"{PAGES}/cards/{card.id}?done=frozen"
    page = client.get(frozen.headers["location"])
    assert 'id="card-state">Frozen<' in page.text and "The card is frozen" in page.text
    assert 'action="' + f"{PAGES}/cards/{card.id}/unfreeze" + '"' in page.text
    assert "Unfreeze the card to correct its balance" in page.text
    assert card_state(client, merchant, card) == "frozen"
    refused = spend(client, merchant, card, 1_000)
    assert refused.status_code == 409 and refused.json()["code"] == "gift_card_frozen"
    assert balance(client, merchant, card) == 10_000

    unfrozen = operate(client, card, "unfreeze")

    assert unfrozen.status_code == 303
    page = client.get(unfrozen.headers["location"])
    assert 'id="card-state">Active<' in page.text and "The card is active again." in page.text
    assert card_state(client, merchant, card) == "active"
    assert spend(client, merchant, card, 1_000).status_code == 201
    assert balance(client, merchant, card) == 9_000


def test_freezing_a_frozen_card_says_why_on_the_card_page(client, merchant):
    card = active_card(client, merchant)
    signed_in_manager(client, merchant)
    token = csrf_of(client.get(f"{PAGES}/cards/{card.id}").text)
    assert operate(client, card, "freeze", token).status_code == 303

    again = operate(client, card, "freeze", token)

    assert again.status_code == 400
    assert "The gift card is frozen." in again.text and "Gift card …" in again.text


def test_an_adjustment_moves_the_balance_by_exactly_the_amount_and_needs_a_reason(client, merchant):
    card = active_card(client, merchant)
    signed_in_manager(client, merchant)

    no_reason = operate(client, card, "adjustments", direction="credit", amount="12.34", reason=" ")
    too_precise = operate(
        client, card, "adjustments", direction="credit", amount="12.345", reason="Till count"
    )
    not_an_amount = operate(
        client, card, "adjustments", direction="credit", amount="NaN", reason="Till count"
    )
    assert no_reason.status_code == 400 and "Give a reason for the correction" in no_reason.text
    for refused in (too_precise, not_an_amount):
        assert refused.status_code == 400 and "Enter an amount in CAD" in refused.text
    assert balance(client, merchant, card) == 10_000

    credited = operate(
        client,
        card,
        "adjustments",
        direction="credit",
        amount="12.34",
        reason="Till count was short",
    )
    assert credited.status_code == 303
    assert credited.headers["location"].endswith("?done=adjusted")
    assert balance(client, merchant, card) == 11_234
    debited = operate(
        client, card, "adjustments", direction="debit", amount="2,34", reason="Typo in the credit"
    )
    assert debited.status_code == 303
    assert balance(client, merchant, card) == 11_000
    text = without_tags(client.get(debited.headers["location"]).text)
    assert "The balance is corrected." in text and "110,00 CA$" in text
    assert text.count("Correction") == 2


def test_an_adjustment_form_sent_twice_moves_the_money_once(client, merchant):
    card = active_card(client, merchant)
    signed_in_manager(client, merchant)
    page = client.get(f"{PAGES}/cards/{card.id}").text
    form_key = re.search(r'name="form_key" value="([^"]+)"', page).group(1)
    fields = {"direction": "credit", "amount": "5", "reason": "Goodwill", "form_key": form_key}

    first = operate(client, card, "adjustments", csrf_of(page), **fields)
    second = operate(client, card, "adjustments", csrf_of(page), **fields)

    assert first.status_code == second.status_code == 303
    assert balance(client, merchant, card) == 10_500


def test_closing_needs_the_box_ticked(client, merchant):
    card = active_card(client, merchant)
    signed_in_manager(client, merchant)

    unticked = operate(client, card, "close")
    assert unticked.status_code == 400 and "Tick the box" in unticked.text
    assert card_state(client, merchant, card) == "active"

    closed = operate(client, card, "close", confirm="yes")

    assert closed.status_code == 303
    page = client.get(closed.headers["location"])
    assert 'id="card-state">Closed<' in page.text and "The card is closed for good." in page.text
    assert 'id="operations-title"' not in page.text
    assert card_state(client, merchant, card) == "closed"


def test_a_manager_lifts_a_pin_lock(client, merchant):
    card = active_card(client, merchant)
    wrong_pin = "0000" if card.pin != "0000" else "1111"
    for _ in range(3):
        spend(client, merchant, card, 100, pin=wrong_pin)
    assert spend(client, merchant, card, 100).status_code == 422  # locked
    signed_in_manager(client, merchant)
    assert "PIN locked until" in client.get(f"{PAGES}/cards/{card.id}").text

    unlocked = operate(client, card, "unlock")

    assert unlocked.status_code == 303
    page = client.get(unlocked.headers["location"])
    assert "The PIN lock is lifted." in page.text and "PIN locked until" not in page.text
    assert spend(client, merchant, card, 100).status_code == 201


def test_a_balance_moves_to_a_new_card_by_its_number(client, merchant):
    program = create_program(client, merchant)
    old, new = new_cards(client, merchant, program, 2)
    activate(client, merchant, old, 6_000)
    signed_in_manager(client, merchant)

    unknown = operate(client, old, "balance-transfer", to_number="4000000000000002")
    assert unknown.status_code == 400 and balance(client, merchant, old) == 6_000

    moved = operate(client, old, "balance-transfer", to_number=new.number)

    assert moved.status_code == 303, moved.text
    assert card_state(client, merchant, old) == "closed"
    assert balance(client, merchant, new) == 6_000 and card_state(client, merchant, new) == "active"
    page = client.get(moved.headers["location"])
    assert "Balance transferred out" in page.text and new.number not in page.text


def test_a_cashier_may_not_operate_a_card(client, merchant):
    card = active_card(client, merchant)
    add_staff(client, merchant, CASHIER)
    sign_in_staff(client, CASHIER)
    token = csrf_of(client.get("/back-office").text)

    for action, fields in (
        ("freeze", {}),
        ("close", {"confirm": "yes"}),
        ("adjustments", {"direction": "credit", "amount": "10", "reason": "Because"}),
    ):
        refused = operate(client, card, action, token, **fields)
        assert refused.status_code == 403, action
        assert "Your role (cashier) does not open the gift card back-office" in refused.text
    assert card_state(client, merchant, card) == "active"
    assert balance(client, merchant, card) == 10_000


def test_an_operation_without_the_csrf_token_is_refused(client, merchant):
    card = active_card(client, merchant)
    signed_in_manager(client, merchant)

    missing = client.post(f"{PAGES}/cards/{card.id}/freeze", follow_redirects=False)
    forged = operate(
        client, card, "adjustments", "forged", direction="credit", amount="10", reason="Because"
    )

    for refused in (missing, forged):
        assert refused.status_code == 403 and "This form has expired" in refused.text
    assert card_state(client, merchant, card) == "active"
    assert balance(client, merchant, card) == 10_000


def test_another_merchants_card_cannot_be_operated(client, merchant, other_merchant):
    rival = active_card(client, other_merchant)
    signed_in_manager(client, merchant)
    token = csrf_of(client.get(f"{PAGES}/cards").text)
    shown = client.get(f"{PAGES}/cards/{rival.id}")

    for action, fields in (
        ("freeze", {}),
        ("unlock", {}),
        ("close", {"confirm": "yes"}),
        ("adjustments", {"direction": "debit", "amount": "10", "reason": "Because"}),
        ("balance-transfer", {"to_number": rival.number}),
    ):
        refused = operate(client, rival, action, token, **fields)
        assert refused.status_code == shown.status_code == 404, action
        assert without_tags(refused.text) == without_tags(shown.text)
    assert card_state(client, other_merchant, rival) == "active"
    assert balance(client, other_merchant, rival) == 10_000


# The customer page ----------------------------------------------------------------------


def registered_card(client, merchant, program, membership_id, amount):
    (card,) = new_cards(client, merchant, program, 1)
    activate(client, merchant, card, amount)
    registered = post(
        client,
        "/v1/gift-cards/registrations",
        {"customer_id": membership_id, "number": card.number, "pin": card.pin},
        merchant.register,
    )
    assert registered.status_code == 201, registered.text
    return card


def test_a_customer_sees_their_registered_cards_balance_and_not_anothers(
    client, merchant, mailer, clock
):
    jana = customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nová",
    )
    petr = customer_with_wallet(
        client,
        merchant,
        email="petr@example.com",
        phone="+420602222222",
        first_name="Petr",
        last_name="Malý",
    )
    program = create_program(client, merchant)
    mine = registered_card(client, merchant, program, jana.id, 7_500)
    theirs = registered_card(client, merchant, program, petr.id, 9_900)
    clock.advance(timedelta(minutes=1))
    spend(client, merchant, mine, 1_000)

    page = sign_in_customer(client, mailer, jana.email)

    text = without_tags(page.text)
    assert f"Gift card …{mine.number[-4:]} Café Bleu gift card · Active" in text
    assert "65,00 CA$" in text and "Active" in text
    assert "Spend \u221210,00 CA$" in text and "Activation +75,00 CA$" in text
    assert text.index("Spend") < text.index("Activation")  # newest first
    assert "99,00 CA$" not in text and f"…{theirs.number[-4:]}" not in text.replace(
        f"…{mine.number[-4:]}", ""
    )
    assert mine.number not in page.text and mine.pin not in text


def test_a_customer_registers_a_card_with_its_number_and_pin(client, merchant, mailer):
    jana = customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nová",
    )
    program = create_program(client, merchant)
    (card,) = new_cards(client, merchant, program, 1)
    activate(client, merchant, card, 4_000)
    wallet = sign_in_customer(client, mailer, jana.email)
    assert "No gift card is registered to you yet." in wallet.text

    done = client.post(
        "/c/gift-cards",
        data={
            "csrf_token": csrf_of(wallet.text),
            "merchant_id": merchant.id,
            "number": " ".join(card.number[i : i + 4] for i in range(0, len(card.number), 4)),
            "pin": card.pin,
        },
    )

    assert done.status_code == 200, done.text
    assert f"…{card.number[-4:]}" in done.text and "is now registered to you" in done.text
    assert "40,00\u00a0CA$" in done.text
    listed = client.get(f"/v1/gift-cards?customer_id={jana.id}", headers=merchant.register)
    assert [c["id"] for c in listed.json()["items"]] == [card.id]


def test_a_wrong_pin_and_an_unknown_number_get_the_same_answer_and_wrong_pins_lock(
    client, merchant, mailer
):
    jana = customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nová",
    )
    program = create_program(client, merchant)  # three wrong PINs lock the card
    (card,) = new_cards(client, merchant, program, 1)
    activate(client, merchant, card, 4_000)
    wallet = sign_in_customer(client, mailer, jana.email)
    token = csrf_of(wallet.text)
    wrong_pin = "0000" if card.pin != "0000" else "1111"

    def register(number, pin):
        return client.post(
            "/c/gift-cards",
            data={"csrf_token": token, "merchant_id": merchant.id, "number": number, "pin": pin},
        )

    unknown = register("4000000000000002", card.pin)
    answers = [register(card.number, wrong_pin) for _ in range(3)]
    locked = register(card.number, card.pin)

    message = "The card number or PIN is not right, or the card cannot be used here."
    for answer in (unknown, *answers, locked):
        assert answer.status_code == 400 and message in answer.text
    assert (
        client.get(f"/v1/gift-cards?customer_id={jana.id}", headers=merchant.register).json()[
            "items"
        ]
        == []
    )


def test_the_registration_form_needs_its_csrf_token(client, merchant, mailer):
    jana = customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nová",
    )
    program = create_program(client, merchant)
    (card,) = new_cards(client, merchant, program, 1)
    sign_in_customer(client, mailer, jana.email)
    refused = client.post(
        "/c/gift-cards",
        data={
            "csrf_token": "forged",
            "merchant_id": merchant.id,
            "number": card.number,
            "pin": card.pin,
        },
    )
    assert refused.status_code == 403
    assert (
        client.get(f"/v1/gift-cards?customer_id={jana.id}", headers=merchant.register).json()[
            "items"
        ]
        == []
    )


def test_a_customer_registers_a_card_through_the_api(client, merchant, mailer):
    jana = customer_with_wallet(
        client,
        merchant,
        email="jana@example.com",
        phone="+420601123456",
        first_name="Jana",
        last_name="Nová",
    )
    program = create_program(client, merchant)
    (card,) = new_cards(client, merchant, program, 1)
    activate(client, merchant, card, 4_000)
    client.post("/v1/customer-sign-in/codes", json={"email": jana.email})
    code = re.search(r"\b(\d{6})\b", mailer.sent[-1].get_content()).group(1)
    token = client.post(
        "/v1/customer-sign-in/sessions", json={"email": jana.email, "code": code}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    wrong = client.post(
        "/v1/me/gift-cards",
        headers=headers,
        json={"merchant_id": merchant.id, "number": card.number, "pin": "x"},
    )
    done = client.post(
        "/v1/me/gift-cards",
        headers=headers,
        json={"merchant_id": merchant.id, "number": card.number, "pin": card.pin},
    )

    assert wrong.json()["code"] == "gift_card_invalid"
    assert done.status_code == 201, done.text
    assert done.json()["membership_id"] == jana.id
    mine = client.get("/v1/me/gift-cards", headers=headers).json()["items"]
    assert [(c["id"], c["balance_minor"]) for c in mine] == [(card.id, 4_000)]

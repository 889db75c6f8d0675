"""PIN lockouts that parallel requests cannot get around, and no card number oracle.

A PIN attempt is reserved with the attempt limiter before the PIN is checked;
a card number that names no card the operation may use is one answer, and such
look-ups are counted and limited per terminal (or API key). Bursts go through
a real uvicorn server on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest

from cagnotte.programs.gift_cards import finding, repository
from cagnotte.programs.gift_cards.numbers import luhn_check_digit
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.gift_cards.conftest import (
    activate,
    balance,
    create_program,
    load,
    new_cards,
    post,
)
from tests.e2e.gift_cards.test_controls import alerts, inquiry, rule
from tests.e2e.gift_cards.test_partners import make_reseller

# The documented policy of failed card number look-ups (finding.NUMBER_LOOKUP_POLICY).
LOOKUPS_ALLOWED = 20
LOOKUP_LOCK = timedelta(minutes=15)


class Counting:
    """Wraps a function and counts its calls (from any thread)."""

    def __init__(self, function, *, when=lambda *args, **kwargs: True):
        self.function = function
        self.when = when
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        if self.when(*args, **kwargs):
            with self._lock:
                self.calls += 1
        return self.function(*args, **kwargs)


def wrong_pin(card) -> str:
    return "0000" if card.pin != "0000" else "1111"


def missing_number(card, index: int = 0) -> str:
    """A well-formed number of the card's format that names no card."""
    body = f"{int(card.number[:-1]) + 1 + index:0{len(card.number) - 1}d}"
    return body + luhn_check_digit(body)


def load_number(client, headers, number: str, amount: int):
    return post(client, "/v1/gift-cards/loads", {"number": number, "amount_minor": amount}, headers)


# PINs ---------------------------------------------------------------------------------


def test_twenty_parallel_wrong_pins_check_at_most_three_and_the_right_one_is_then_refused(
    server_url, client, merchant, card, monkeypatch
):
    rule(client, merchant, kind="wrong_pins", threshold_count=3)
    checks = Counting(finding.verify_pin, when=lambda pin_hash, *_: pin_hash is not None)
    monkeypatch.setattr(finding, "verify_pin", checks)

    def guess(http):
        return http.post(
            f"{server_url}/v1/gift-cards/balance-inquiries",
            json={"number": card.number, "pin": wrong_pin(card)},
            headers=merchant.register,
        )

    responses = all_at_once(20, guess)
    assert Counter(r.status_code for r in responses) == {422: 20}
    assert {r.json()["code"] for r in responses} == {"gift_card_invalid"}
    assert checks.calls <= 3
    assert inquiry(client, merchant, card.number, card.pin).json()["code"] == "gift_card_invalid"
    assert checks.calls <= 3
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["locked_until"] is not None
    # The alerts are told what they were told before: three wrong PINs, and the lock.
    (alert,) = alerts(client, merchant, "wrong_pins")
    assert alert["details"] == {"wrong_pins": 3, "locked": True}


def test_a_locked_card_reads_as_locked_until_a_manager_lifts_the_lock(
    client, merchant, card, clock
):
    for _ in range(3):
        inquiry(client, merchant, card.number, wrong_pin(card))
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    locked_until = clock.now() + timedelta(minutes=30)
    assert datetime.fromisoformat(view["locked_until"]) == locked_until
    assert view["pin_failures"] == 3
    (listed,) = client.get("/v1/gift-cards", headers=merchant.manager).json()["items"]
    assert listed["locked_until"] == view["locked_until"]
    unlocked = client.post(f"/v1/gift-cards/{card.id}/unlock", headers=merchant.manager)
    assert unlocked.json()["locked_until"] is None and unlocked.json()["pin_failures"] == 0
    assert inquiry(client, merchant, card.number, card.pin).status_code == 200


@pytest.fixture
def write_lock_probe(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's one write lock")
    path = database_url.removeprefix("sqlite:///")

    def write_lock_is_held() -> bool:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            assert "locked" in str(error), error
            return True
        finally:
            probe.close()
        return False

    return write_lock_is_held


def test_on_sqlite_a_pin_is_checked_with_no_write_transaction_open(
    client, merchant, card, write_lock_probe, monkeypatch
):
    held: list[bool] = []
    original = finding.verify_pin

    def verify_pin(*args):
        held.append(write_lock_probe())
        return original(*args)

    monkeypatch.setattr(finding, "verify_pin", verify_pin)
    assert inquiry(client, merchant, card.number, wrong_pin(card)).status_code == 422
    assert inquiry(client, merchant, card.number, card.pin).status_code == 200
    assert held == [False, False]


# The card number oracle ---------------------------------------------------------------


def test_a_load_answers_the_same_for_an_existing_card_and_a_missing_number(client, merchant, card):
    for amount in (1, 600_000):
        there = load(client, merchant, card, amount)
        absent = load_number(client, merchant.register, missing_number(card), amount)
        assert (there.status_code, there.content) == (absent.status_code, absent.content)
    frozen = client.post(f"/v1/gift-cards/{card.id}/freeze", headers=merchant.manager)
    assert frozen.status_code == 200
    there = load(client, merchant, card, 1_000)
    absent = load_number(client, merchant.register, missing_number(card), 1_000)
    assert (there.status_code, there.content) == (absent.status_code, absent.content)
    assert absent.json()["code"] == "gift_card_invalid"
    assert balance(client, merchant, card) == 10_000


def test_an_activation_answers_the_same_for_an_active_card_and_a_missing_number(
    client, merchant, card
):
    for amount in (None, 1, 1_000):
        there = activate(client, merchant, card, amount)
        absent = post(
            client,
            "/v1/gift-cards/activations",
            {"number": missing_number(card), **({"amount_minor": amount} if amount else {})},
            merchant.register,
        )
        assert (there.status_code, there.content) == (absent.status_code, absent.content)
        assert absent.json()["code"] in ("gift_card_invalid", "load_out_of_range")


def test_a_reseller_gets_one_answer_for_a_card_it_may_not_sell_a_frozen_card_and_no_card(
    client, merchant, card
):
    sold = create_program(client, merchant, name="Mall card")
    _reseller, key = make_reseller(client, merchant, [sold["id"]])
    (mall_card,) = new_cards(client, merchant, sold, 1)
    assert (
        post(client, "/v1/gift-cards/activations", {"number": mall_card.number}, key).status_code
        == 201
    )
    client.post(f"/v1/gift-cards/{mall_card.id}/freeze", headers=merchant.manager)
    answers = {
        load_number(client, key, number, 1_000).content
        for number in (card.number, mall_card.number, missing_number(card))
    }
    assert len(answers) == 1
    assert load_number(client, key, card.number, 1).content == (
        load_number(client, key, missing_number(card), 1).content
    )


def test_failed_look_ups_lock_the_terminal_and_right_ones_do_not_buy_more(
    client, merchant, card, clock
):
    assert finding.NUMBER_LOOKUP_POLICY.attempts == LOOKUPS_ALLOWED
    assert finding.NUMBER_LOOKUP_POLICY.lock == LOOKUP_LOCK
    for index in range(LOOKUPS_ALLOWED - 1):
        response = load_number(client, merchant.register, missing_number(card, index), 1_000)
        assert response.json()["code"] == "gift_card_invalid"
    # A look-up that finds its card gives its attempt back, but takes no failure away.
    assert load(client, merchant, card, 1_000).status_code == 201
    last = load_number(client, merchant.register, missing_number(card, LOOKUPS_ALLOWED), 1_000)
    assert last.json()["code"] == "gift_card_invalid"
    locked = load(client, merchant, card, 1_000)
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert datetime.fromisoformat(locked.json()["locked_until"]) == clock.now() + LOOKUP_LOCK
    # Every look-up of the terminal without a PIN waits; another key of the merchant does not.
    no_pin = post(
        client, "/v1/gift-cards/balance-inquiries", {"number": card.number}, merchant.register
    )
    assert no_pin.status_code == 429
    assert load_number(client, merchant.owner, card.number, 1_000).status_code == 201
    # With a PIN a miss answers like a wrong PIN: such look-ups are not counted or refused.
    assert inquiry(client, merchant, missing_number(card), card.pin).status_code == 422
    assert inquiry(client, merchant, card.number, card.pin).status_code == 200
    clock.advance(LOOKUP_LOCK)
    assert load(client, merchant, card, 1_000).status_code == 201


def test_fifty_parallel_look_ups_of_missing_numbers_look_up_at_most_the_policy_s_number(
    server_url, client, merchant, card, monkeypatch
):
    lookups = Counting(repository.card_by_number_hashes)
    monkeypatch.setattr(repository, "card_by_number_hashes", lookups)
    numbers = iter(range(50))
    lock = threading.Lock()

    def guess(http):
        with lock:
            index = next(numbers)
        return http.post(
            f"{server_url}/v1/gift-cards/loads",
            json={"number": missing_number(card, index), "amount_minor": 1_000},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(50, guess)
    allowed = LOOKUPS_ALLOWED
    assert Counter(r.status_code for r in responses) == {422: allowed, 429: 50 - allowed}
    assert lookups.calls == allowed
    refused = {r.json()["code"] for r in responses if r.status_code == 429}
    assert refused == {"too_many_attempts"}
    assert load(client, merchant, card, 1_000).status_code == 429


def test_a_card_without_pin_answers_a_made_up_pin_like_no_card_and_counts_look_ups_without(
    client, merchant
):
    program = create_program(client, merchant, pin_required=False)
    (card,) = new_cards(client, merchant, program, 1)
    assert activate(client, merchant, card, 1_000).status_code == 201
    with_pin = inquiry(client, merchant, card.number, "1234")
    absent = inquiry(client, merchant, missing_number(card), "1234")
    assert (with_pin.status_code, with_pin.content) == (absent.status_code, absent.content)
    assert with_pin.json()["code"] == "gift_card_invalid"

    def by_number(number):
        return post(
            client, "/v1/gift-cards/balance-inquiries", {"number": number}, merchant.register
        )

    assert by_number(card.number).json()["balance_minor"] == 1_000
    for index in range(LOOKUPS_ALLOWED):
        assert by_number(missing_number(card, index)).json()["code"] == "gift_card_invalid"
    assert by_number(card.number).json()["code"] == "too_many_attempts"


def test_twenty_parallel_spends_with_the_right_pin_are_not_refused_for_being_many(
    server_url, client, merchant, card
):
    def pay(http):
        return http.post(
            f"{server_url}/v1/gift-cards/spends",
            json={"number": card.number, "pin": card.pin, "amount_minor": 100},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, pay)
    assert Counter(r.status_code for r in responses) == {201: 20}, [r.text for r in responses]
    assert balance(client, merchant, card) == 10_000 - 20 * 100

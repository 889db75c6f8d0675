"""PINs under a keyed hash: cards from before (argon2) move to it, the lockout still counts,
and a spend of a card with the right PIN is one transaction on one connection."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from contextlib import contextmanager

import pytest
from sqlalchemy import select, update

from cagnotte.programs.gift_cards import finding
from cagnotte.programs.gift_cards.pins import hash_argon2_pin, keyed_pin_hash
from cagnotte.programs.gift_cards.tables import gift_cards
from cagnotte.security.hash_keys import HashKeys
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.gift_cards.conftest import balance, spend


def stored_pin(services, card) -> tuple[str | None, str | None]:
    with services.database.read() as connection:
        row = connection.execute(
            select(gift_cards.c.pin_hash, gift_cards.c.pin_key_id).where(
                gift_cards.c.id == uuid.UUID(card.id)
            )
        ).one()
    return row.pin_hash, row.pin_key_id


def give_argon2_pin(services, card) -> None:
    """The card as a card issued before the keyed hash holds it: argon2, no key id."""
    with services.database.transaction() as connection:
        connection.execute(
            update(gift_cards)
            .where(gift_cards.c.id == uuid.UUID(card.id))
            .values(pin_hash=hash_argon2_pin(card.number, card.pin), pin_key_id=None)
        )


def pin_keys(services) -> HashKeys:
    return services.gift_cards.pin_keys()


def test_a_new_card_holds_the_keyed_hash_of_its_number_and_pin(services, card):
    digest, key_id = stored_pin(services, card)
    keys = pin_keys(services)

    assert key_id == keys.newest_id
    assert digest == keyed_pin_hash(keys.newest, card.number, card.pin)


def test_the_stored_hash_does_not_verify_without_the_key(services, card):
    digest, key_id = stored_pin(services, card)
    other = HashKeys((b"another key, not the platform's!",))

    assert not finding.verify_pin(digest, card.number, card.pin, other, key_id)
    assert finding.verify_pin(digest, card.number, card.pin, pin_keys(services), key_id)
    # No PIN of the ten thousand gives the stored hash under another key either.
    assert all(
        keyed_pin_hash(other.newest, card.number, f"{value:04d}") != digest
        for value in range(10_000)
    )


def test_an_argon2_card_spends_with_the_right_pin_and_then_holds_the_keyed_hash(
    client, merchant, services, card
):
    give_argon2_pin(services, card)

    spent = spend(client, merchant, card, 1_000)

    assert spent.status_code == 201, spent.text
    assert balance(client, merchant, card) == 9_000
    digest, key_id = stored_pin(services, card)
    keys = pin_keys(services)
    assert (digest, key_id) == (keyed_pin_hash(keys.newest, card.number, card.pin), keys.newest_id)
    # And it keeps spending, now by the keyed hash.
    assert spend(client, merchant, card, 1_000).status_code == 201
    assert balance(client, merchant, card) == 8_000


def test_an_argon2_card_is_hashed_again_in_the_spends_unit_of_work(
    client, merchant, services, card
):
    give_argon2_pin(services, card)

    refused = spend(client, merchant, card, 20_000)

    # The right PIN, but the spend was refused: its unit rolled back, the rehash with it.
    assert refused.json()["code"] == "insufficient_funds"
    assert stored_pin(services, card)[1] is None
    assert spend(client, merchant, card, 100).status_code == 201
    assert stored_pin(services, card)[1] == pin_keys(services).newest_id


def test_wrong_pins_on_an_argon2_card_count_against_the_lockout(client, merchant, services, card):
    give_argon2_pin(services, card)

    for _ in range(3):  # the program allows three
        assert spend(client, merchant, card, 100, pin="0000").json()["code"] == "gift_card_invalid"

    assert spend(client, merchant, card, 100).json()["code"] == "gift_card_invalid"
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["pin_failures"] == 3 and view["locked_until"] is not None
    assert balance(client, merchant, card) == 10_000
    assert stored_pin(services, card)[1] is None


def test_wrong_pins_at_a_spend_count_and_leave_the_key_free_for_the_right_one(
    client, merchant, services, card
):
    wrong = spend(client, merchant, card, 100, pin="0000", key="till-1-receipt-7")
    assert wrong.json()["code"] == "gift_card_invalid"
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["pin_failures"] == 1

    # The cashier types the PIN again, same receipt, same key: the key was not used up.
    right = spend(client, merchant, card, 100, key="till-1-receipt-7")
    assert right.status_code == 201, right.text
    replayed = spend(client, merchant, card, 100, key="till-1-receipt-7")
    assert replayed.json()["id"] == right.json()["id"]
    assert balance(client, merchant, card) == 9_900
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["pin_failures"] == 0


class Connections:
    """Counts the transactions and reads opened on the service's database."""

    def __init__(self, database, monkeypatch) -> None:
        self.opened: Counter[str] = Counter()
        self._lock = threading.Lock()
        for name in ("transaction", "read"):
            monkeypatch.setattr(database, name, self._counting(name, getattr(database, name)))

    def _counting(self, name, original):
        @contextmanager
        def opened(*args, **kwargs):
            with self._lock:
                self.opened[name] += 1
            with original(*args, **kwargs) as connection:
                yield connection

        return opened


def test_a_spend_with_the_right_pin_is_one_transaction_and_no_other_connection(
    client, merchant, services, card, monkeypatch
):
    assert spend(client, merchant, card, 100).status_code == 201  # caches warm
    connections = Connections(services.database, monkeypatch)

    spent = spend(client, merchant, card, 100)

    assert spent.status_code == 201, spent.text
    assert connections.opened == {"transaction": 1}
    assert balance(client, merchant, card) == 9_800


def test_twenty_parallel_wrong_pins_at_spends_check_at_most_three_then_the_right_is_refused(
    server_url, client, merchant, services, card, monkeypatch
):
    checks = []
    original = finding.verify_pin

    def verify_pin(*args):
        checks.append(args[2])
        return original(*args)

    monkeypatch.setattr(finding, "verify_pin", verify_pin)

    def guess(http):
        return http.post(
            f"{server_url}/v1/gift-cards/spends",
            json={"number": card.number, "pin": "0000", "amount_minor": 100},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, guess)

    assert Counter(r.status_code for r in responses) == {422: 20}
    assert {r.json()["code"] for r in responses} == {"gift_card_invalid"}
    assert len([pin for pin in checks if pin == "0000"]) <= 3
    assert spend(client, merchant, card, 100).json()["code"] == "gift_card_invalid"
    assert balance(client, merchant, card) == 10_000
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["locked_until"] is not None


@pytest.mark.parametrize("kind", ["spend", "authorisation"])
def test_parallel_right_pins_on_one_card_all_go_through(
    server_url, client, merchant, services, card, kind
):
    path = "/v1/gift-cards/spends" if kind == "spend" else "/v1/gift-cards/authorisations"

    def pay(http):
        return http.post(
            f"{server_url}{path}",
            json={"number": card.number, "pin": card.pin, "amount_minor": 100},
            headers={**merchant.register, "Idempotency-Key": str(uuid.uuid4())},
        )

    responses = all_at_once(20, pay)

    assert Counter(r.status_code for r in responses) == {201: 20}, [r.text for r in responses]
    view = client.get(f"/v1/gift-cards/{card.id}", headers=merchant.manager).json()
    assert view["pin_failures"] == 0
    if kind == "spend":
        assert balance(client, merchant, card) == 8_000

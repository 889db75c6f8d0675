"""Rotating the keys of the card number and bonus code hashes, on both databases.

A card or a code hashed under the old key is still found once a new key is
put first in the setting; a card found is hashed again under the new key, a
code once redeemed needs no key any more, and `cagnotte keys status` counts
down to the day the old key may be dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.cli import app as cli
from cagnotte.config import Settings
from cagnotte.db.tables import platform_keys
from cagnotte.programs.bonus_codes.tables import bonus_codes
from cagnotte.programs.gift_cards.tables import gift_cards
from cagnotte.security.hash_keys import key_id
from tests.e2e.api.conftest import RecordingMailer, make_merchant
from tests.e2e.bonus_codes.conftest import (
    CAPTCHA_ANSWER,
    codes_from_mail,
    pay_by_bank,
    redeem,
    request_campaign,
    sign_in_customer,
)
from tests.e2e.gift_cards.conftest import create_program, new_cards, post

OLD = secrets.token_urlsafe(32)
NEW = secrets.token_hex(32)


def _key(text: str) -> bytes:
    from cagnotte.security.hash_keys import decode_key

    return decode_key(text)


@contextmanager
def serving(
    database, clock, mailer, *, number_keys: str, code_keys: str, pin_keys: str = NEW
) -> Iterator:
    """The app over the test's database, with these keys (newest first)."""
    settings = Settings(
        environment="development",
        database_url=database.url,
        gift_card_number_key=number_keys,
        bonus_code_key=code_keys,
        # Unless a test rotates it, the PINs' key stays NEW (`_status`'s production needs one).
        gift_card_pin_key=pin_keys,
    )
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
    mailer.outbox = services.outbox  # reading mailer.sent delivers the outbox first
    services.captchas.make_answer = lambda: CAPTCHA_ANSWER
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client, services


def _status(database, *, number_keys: str, code_keys: str, monkeypatch) -> str:
    monkeypatch.setenv("CAGNOTTE_DATABASE_URL", database.url)
    monkeypatch.setenv("CAGNOTTE_GIFT_CARD_NUMBER_KEY", number_keys)
    monkeypatch.setenv("CAGNOTTE_BONUS_CODE_KEY", code_keys)
    monkeypatch.setenv("CAGNOTTE_GIFT_CARD_PIN_KEY", NEW)
    # Production settings, as the service has them: with an SMTP host (nothing is sent).
    monkeypatch.setenv("CAGNOTTE_SMTP_HOST", "127.0.0.1")
    result = CliRunner().invoke(cli, ["keys", "status"])
    assert result.exit_code == 0, result.output
    return result.output


def _card_hash(database, card_id: str) -> tuple[str, str | None]:
    with database.read() as connection:
        row = connection.execute(
            select(gift_cards.c.number_hash, gift_cards.c.number_key_id).where(
                gift_cards.c.id == uuid.UUID(card_id)
            )
        ).one()
    return row.number_hash, row.number_key_id


def _number_hash(key: str, number: str) -> str:
    return hmac.new(_key(key), number.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


def test_a_card_hashed_under_the_old_key_is_found_after_the_rotation_and_hashed_again(
    database, clock, mailer, monkeypatch
):
    with serving(database, clock, mailer, number_keys=OLD, code_keys=OLD) as (client, services):
        operator_key = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator_key, "Café Bleu")
        program = create_program(client, merchant)
        used, idle = new_cards(client, merchant, program, 2)
        for card in (used, idle):
            activated = post(
                client,
                "/v1/gift-cards/activations",
                {"number": card.number, "amount_minor": 5_000},
                merchant.register,
            )
            assert activated.status_code == 201, activated.text
    assert _card_hash(database, used.id) == (_number_hash(OLD, used.number), key_id(_key(OLD)))
    before = _status(database, number_keys=f"{NEW},{OLD}", code_keys=OLD, monkeypatch=monkeypatch)
    assert "2 still need an older key" in before

    with serving(database, clock, mailer, number_keys=f"{NEW},{OLD}", code_keys=OLD) as (
        client,
        services,
    ):
        assert services.gift_cards.number_key_usage().under_older_keys == 2
        spent = post(
            client,
            "/v1/gift-cards/spends",
            {"number": used.number, "pin": used.pin, "amount_minor": 1_500},
            merchant.register,
        )
        assert spent.status_code == 201, spent.text
        assert spent.json()["balance_after_minor"] == 3_500
        assert _card_hash(database, used.id) == (_number_hash(NEW, used.number), key_id(_key(NEW)))
        assert services.gift_cards.number_key_usage().under_older_keys == 1
        inquiry = post(
            client,
            "/v1/gift-cards/balance-inquiries",
            {"number": idle.number, "pin": idle.pin},
            merchant.register,
        )
        assert inquiry.status_code == 200 and inquiry.json()["balance_minor"] == 5_000
        usage = services.gift_cards.number_key_usage()
        assert (usage.under_older_keys, usage.under_newest_key) == (0, 2)
    after = _status(database, number_keys=f"{NEW},{OLD}", code_keys=OLD, monkeypatch=monkeypatch)
    assert "none needs an older key: the older keys may be dropped" in after.split("Bonus")[0]

    # The old key dropped: the cards are found under the new one alone.
    with serving(database, clock, mailer, number_keys=NEW, code_keys=OLD) as (client, _services):
        again = post(
            client,
            "/v1/gift-cards/balance-inquiries",
            {"number": used.number, "pin": used.pin},
            merchant.register,
        )
        assert again.status_code == 200 and again.json()["balance_minor"] == 3_500


def test_a_card_hashed_before_key_ids_were_kept_is_found_and_gets_the_newest_keys_id(
    database, clock, mailer
):
    with serving(database, clock, mailer, number_keys=OLD, code_keys=OLD) as (client, services):
        operator_key = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator_key, "Café Bleu")
        (card,) = new_cards(client, merchant, create_program(client, merchant), 1)
    with database.transaction() as connection:
        connection.execute(
            update(gift_cards)
            .where(gift_cards.c.id == uuid.UUID(card.id))
            .values(number_key_id=None)
        )
    with serving(database, clock, mailer, number_keys=f"{NEW},{OLD}", code_keys=OLD) as (
        client,
        services,
    ):
        assert services.gift_cards.number_key_usage().rows_by_key == {None: 1}
        activated = post(
            client,
            "/v1/gift-cards/activations",
            {"number": card.number, "amount_minor": 5_000},
            merchant.register,
        )
        assert activated.status_code == 201, activated.text
        assert _card_hash(database, card.id) == (_number_hash(NEW, card.number), key_id(_key(NEW)))
        assert services.gift_cards.number_key_usage().under_older_keys == 0


def test_a_card_under_a_key_dropped_too_early_is_not_found_and_the_status_says_so(
    database, clock, mailer, monkeypatch
):
    with serving(database, clock, mailer, number_keys=OLD, code_keys=OLD) as (client, services):
        operator_key = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator_key, "Café Bleu")
        (card,) = new_cards(client, merchant, create_program(client, merchant), 1)
    with serving(database, clock, mailer, number_keys=NEW, code_keys=OLD) as (client, _services):
        refused = post(
            client,
            "/v1/gift-cards/activations",
            {"number": card.number, "amount_minor": 5_000},
            merchant.register,
        )
        assert refused.json()["code"] == "gift_card_invalid"
    status = _status(database, number_keys=NEW, code_keys=OLD, monkeypatch=monkeypatch)
    assert "under a key no longer configured (no look-up finds them): 1" in status


def test_bonus_codes_of_the_old_key_are_redeemed_after_the_rotation_and_the_count_falls_to_zero(
    database, clock, mailer, monkeypatch
):
    with serving(database, clock, mailer, number_keys=OLD, code_keys=OLD) as (client, services):
        operator_key = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator_key, "Café Bleu")
        campaign = request_campaign(client, merchant, clock, code_count=2)
        paid = pay_by_bank(client, operator_key, 40_000, campaign["funding"]["variable_symbol"])
        assert paid.status_code == 201, paid.text
        codes = codes_from_mail(mailer)
    with database.read() as connection:
        ids = set(connection.execute(select(bonus_codes.c.code_key_id)).scalars())
    assert ids == {key_id(_key(OLD))}
    before = _status(database, number_keys=OLD, code_keys=f"{NEW},{OLD}", monkeypatch=monkeypatch)
    assert "2 still need an older key" in before.split("Bonus")[1]

    with serving(database, clock, mailer, number_keys=OLD, code_keys=f"{NEW},{OLD}") as (
        client,
        services,
    ):
        customer = sign_in_customer(client, mailer, merchant, "jana@example.com", "+420601111111")
        for left, code in zip((1, 0), codes, strict=True):
            redeemed = redeem(client, customer, code)
            assert redeemed.status_code == 201, redeemed.text
            assert redeemed.json()["amount_minor"] == 20_000
            assert services.bonus_codes.code_key_usage().under_older_keys == left
        # New codes are hashed under the new key.
        second = request_campaign(client, merchant, clock, code_count=3)
        paid = pay_by_bank(client, operator_key, 60_000, second["funding"]["variable_symbol"])
        assert paid.status_code == 201, paid.text
        usage = services.bonus_codes.code_key_usage()
        assert (usage.under_newest_key, usage.under_older_keys) == (3, 0)
        fresh = codes_from_mail(mailer)
    after = _status(database, number_keys=OLD, code_keys=f"{NEW},{OLD}", monkeypatch=monkeypatch)
    assert "none needs an older key: the older keys may be dropped" in after.split("Bonus")[1]

    with serving(database, clock, mailer, number_keys=OLD, code_keys=NEW) as (client, _services):
        customer = sign_in_customer(client, mailer, merchant, "petr@example.com", "+420602222222")
        redeemed = redeem(client, customer, fresh[0])
        assert redeemed.status_code == 201, redeemed.text


def test_cards_under_the_development_key_are_found_once_it_is_given_as_the_older_key(
    database, clock, mailer
):
    # As docs/keys.md says for an installation that ran on the key in the database.
    settings = Settings(environment="development", database_url=database.url)
    services = bootstrap(settings, clock=clock, mailer=mailer, database=database)
    mailer.outbox = services.outbox  # reading mailer.sent delivers the outbox first
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        operator_key = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator_key, "Café Bleu")
        (card,) = new_cards(client, merchant, create_program(client, merchant), 1)
    with database.read() as connection:
        stored = connection.execute(
            select(platform_keys.c.secret).where(platform_keys.c.name == "gift_card_numbers")
        ).scalar_one()

    with serving(database, clock, mailer, number_keys=f"{NEW},{stored}", code_keys=OLD) as (
        client,
        services,
    ):
        activated = post(
            client,
            "/v1/gift-cards/activations",
            {"number": card.number, "amount_minor": 5_000},
            merchant.register,
        )
        assert activated.status_code == 201, activated.text
        assert _card_hash(database, card.id)[1] == key_id(_key(NEW))


def _pin_key_id(database, card_id: str) -> str | None:
    with database.read() as connection:
        return connection.execute(
            select(gift_cards.c.pin_key_id).where(gift_cards.c.id == uuid.UUID(card_id))
        ).scalar_one()


def test_a_pin_under_the_old_pin_key_is_checked_after_the_rotation_and_hashed_again(
    database, clock, mailer
):
    keys = {"number_keys": OLD, "code_keys": OLD}
    with serving(database, clock, mailer, **keys, pin_keys=OLD) as (client, services):
        operator_key = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator_key, "Café Bleu")
        used, idle = new_cards(client, merchant, create_program(client, merchant), 2)
        for card in (used, idle):
            activated = post(
                client,
                "/v1/gift-cards/activations",
                {"number": card.number, "amount_minor": 5_000},
                merchant.register,
            )
            assert activated.status_code == 201, activated.text
    assert _pin_key_id(database, used.id) == key_id(_key(OLD))

    with serving(database, clock, mailer, **keys, pin_keys=f"{NEW},{OLD}") as (client, services):
        assert services.gift_cards.pin_key_usage().under_older_keys == 2
        spent = post(
            client,
            "/v1/gift-cards/spends",
            {"number": used.number, "pin": used.pin, "amount_minor": 1_500},
            merchant.register,
        )
        assert spent.status_code == 201, spent.text
        assert _pin_key_id(database, used.id) == key_id(_key(NEW))
        assert services.gift_cards.pin_key_usage().under_older_keys == 1

    # The old key dropped too early: the card spent since works, the idle one's PIN is wrong.
    with serving(database, clock, mailer, **keys, pin_keys=NEW) as (client, _services):
        for card, status in ((used, 201), (idle, 422)):
            answer = post(
                client,
                "/v1/gift-cards/spends",
                {"number": card.number, "pin": card.pin, "amount_minor": 100},
                merchant.register,
            )
            assert answer.status_code == status, answer.text

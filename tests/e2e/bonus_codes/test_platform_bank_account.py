"""The platform's bank account is a setting with no default: no campaign is requested
without one in production, and development shows an example that is nobody's."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cagnotte.api.app import create_app
from cagnotte.bootstrap import bootstrap
from cagnotte.config import DEVELOPMENT_BANK_ACCOUNT, Settings
from cagnotte.programs.bonus_codes.tables import bonus_campaigns
from tests.e2e.api.conftest import make_merchant
from tests.e2e.bonus_codes.conftest import campaign_body


@contextmanager
def production(database, clock, mailer, **settings) -> Iterator[tuple[TestClient, object]]:
    """The app in production (its keys set; mail to the test's mailer) over the database."""
    production_settings = Settings(
        environment="production",
        database_url=database.url,
        gift_card_number_key=secrets.token_urlsafe(32),
        bonus_code_key=secrets.token_urlsafe(32),
        gift_card_pin_key=secrets.token_urlsafe(32),
        **settings,
    )
    services = bootstrap(production_settings, clock=clock, mailer=mailer, database=database)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client, services


def test_the_bank_account_has_no_default_and_development_has_an_example_only():
    assert Settings.model_fields["platform_bank_account"].default is None
    assert Settings(environment="production").campaign_bank_account is None
    assert Settings(environment="development").campaign_bank_account == DEVELOPMENT_BANK_ACCOUNT
    set_one = Settings(environment="development", platform_bank_account="2000145399/2010")
    assert set_one.campaign_bank_account == "2000145399/2010"


def test_production_without_a_bank_account_refuses_a_campaign_and_writes_nothing(
    database, clock, mailer
):
    with production(database, clock, mailer) as (client, services):
        operator_key = services.merchants.ensure_operator_key()
        merchant = make_merchant(client, operator_key, "Café Bleu")
        response = client.post(
            "/v1/bonus-campaigns", json=campaign_body(clock), headers=merchant.owner
        )
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "platform_bank_account_missing"
        assert "CAGNOTTE_PLATFORM_BANK_ACCOUNT" in response.json()["title"]
        with services.database.read() as connection:
            count = select(func.count()).select_from(bonus_campaigns)
            assert connection.execute(count).scalar() == 0


def test_production_tells_merchants_the_account_it_is_given(database, clock, mailer):
    with production(database, clock, mailer, platform_bank_account="2000145399/2010") as (
        client,
        services,
    ):
        merchant = make_merchant(client, services.merchants.ensure_operator_key(), "Café Bleu")
        response = client.post(
            "/v1/bonus-campaigns", json=campaign_body(clock), headers=merchant.owner
        )
        assert response.status_code == 201, response.text
        assert response.json()["funding"]["bank_account"] == "2000145399/2010"

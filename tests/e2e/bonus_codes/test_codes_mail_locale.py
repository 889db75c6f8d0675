"""A campaign's codes mail writes the bonus and the validity for the merchant's locale and zone."""

from __future__ import annotations

import pytest

from tests.e2e.api.conftest import bearer
from tests.e2e.bonus_codes.conftest import pay_by_bank, request_campaign

NBSP = "\N{NO-BREAK SPACE}"
NNBSP = "\N{NARROW NO-BREAK SPACE}"


@pytest.mark.parametrize(
    ("where", "worth", "valid"),
    [
        ({}, f"200,00{NBSP}Kč", "valid from 5. 1. 2026 9:00 SEČ to 4. 2. 2026 10:00 SEČ"),
        (
            {"locale": "en_CA", "time_zone": "America/Toronto"},
            "CZK200.00",
            f"valid from Jan 5, 2026, 3:00{NNBSP}a.m. EST to Feb 4, 2026, 4:00{NNBSP}a.m. EST",
        ),
    ],
)
def test_the_codes_mail_is_written_for_the_merchant(
    client, merchant, operator_key, clock, mailer, where, worth, valid
):
    if where:
        changed = client.patch(
            f"/v1/merchants/{merchant.id}", json=where, headers=bearer(operator_key)
        )
        assert changed.status_code == 200, changed.text
    campaign = request_campaign(client, merchant, clock)
    paid = pay_by_bank(client, operator_key, 100_000, campaign["funding"]["variable_symbol"])
    assert paid.status_code == 201, paid.text
    (mail,) = [m for m in mailer.sent if m["Subject"].startswith("Bonus codes")]
    body = mail.get_body(("plain",)).get_content()
    assert f"Each code is worth {worth} and is {valid}." in body

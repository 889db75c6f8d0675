"""The customer page's consent buttons: each channel at each shop, withdrawn or given by the
customer, recorded with the source `customer_page`."""

from __future__ import annotations

import re
import uuid

from tests.e2e.api.conftest import enrol
from tests.e2e.web.conftest import csrf_of, sign_in_customer


def consents(client, merchant, member_id: str) -> dict:
    response = client.get(f"/v1/customers/{member_id}/consents", headers=merchant.register)
    assert response.status_code == 200, response.text
    return response.json()


def choose(client, csrf: str, merchant_id: str, channel: str, granted: str):
    return client.post(
        "/c/consents",
        data={
            "csrf_token": csrf,
            "merchant_id": merchant_id,
            "channel": channel,
            "granted": granted,
        },
    )


def test_a_customer_withdraws_and_gives_consent_per_channel_from_the_page(
    client, mailer, merchant, other_merchant
):
    member = enrol(
        client, merchant, "+420601999000", email="zoe@example.com", consent_marketing_email=True
    )
    elsewhere = enrol(
        client,
        other_merchant,
        "+420601999000",
        email="zoe@example.com",
        consent_marketing_email=True,
    )
    wallet = sign_in_customer(client, mailer, "zoe@example.com")
    assert wallet.status_code == 200, wallet.text
    assert "What this shop may send you" in wallet.text
    withdrawn = choose(client, csrf_of(wallet.text), merchant.id, "email", "false")
    assert withdrawn.status_code == 200, withdrawn.text
    assert re.search(r'id="consent-changed">Offers by e-mail:\s+withdrawn\.', withdrawn.text)
    standing = consents(client, merchant, member["id"])
    assert standing["current"]["email"]["granted"] is False
    assert standing["current"]["email"]["source"] == "customer_page"
    assert [(e["channel"], e["granted"], e["source"]) for e in standing["history"]] == [
        ("email", True, "register"),
        ("email", False, "customer_page"),
    ]
    # The other shop's consent is its own.
    assert consents(client, other_merchant, elsewhere["id"])["current"]["email"]["granted"]
    given = choose(client, csrf_of(withdrawn.text), merchant.id, "phone", "true")
    assert given.status_code == 200, given.text
    assert consents(client, merchant, member["id"])["current"]["phone"] == {
        "granted": True,
        "since": consents(client, merchant, member["id"])["current"]["phone"]["since"],
        "source": "customer_page",
        "text_version": None,
    }


def test_a_consent_form_without_the_sessions_csrf_token_is_refused(client, mailer, merchant):
    member = enrol(
        client, merchant, "+420601999001", email="yan@example.com", consent_marketing_email=True
    )
    sign_in_customer(client, mailer, "yan@example.com")
    forged = choose(client, "0" * 64, merchant.id, "email", "false")
    assert forged.status_code == 403
    assert consents(client, merchant, member["id"])["current"]["email"]["granted"] is True


def test_a_bad_consent_form_changes_nothing(client, mailer, merchant, other_merchant):
    member = enrol(
        client, merchant, "+420601999002", email="xia@example.com", consent_marketing_email=True
    )
    wallet = sign_in_customer(client, mailer, "xia@example.com")
    csrf = csrf_of(wallet.text)
    for merchant_id, channel, granted, status in (
        ("not-a-uuid", "email", "false", 400),
        (merchant.id, "fax", "false", 400),
        (merchant.id, "email", "maybe", 400),
        (other_merchant.id, "email", "false", 404),  # not a member there
        (str(uuid.uuid4()), "email", "false", 404),
    ):
        response = choose(client, csrf, merchant_id, channel, granted)
        assert response.status_code == status, (merchant_id, channel, granted, response.text)
        assert 'role="alert"' in response.text
    assert consents(client, merchant, member["id"])["history"] == [
        consents(client, merchant, member["id"])["history"][0]
    ]
    assert consents(client, merchant, member["id"])["current"]["email"]["granted"] is True

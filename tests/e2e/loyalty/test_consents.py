"""Consent to marketing per channel: the proof kept, withdrawal, one-click unsubscribe."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.e2e.api.conftest import enrol


def consents(client, merchant, member) -> dict:
    response = client.get(f"/v1/customers/{member['id']}/consents", headers=merchant.register)
    assert response.status_code == 200, response.text
    return response.json()


def test_consent_given_at_enrolment_is_recorded_with_its_source(client, merchant):
    member = enrol(client, merchant, "+420601444000", consent_marketing_email=True)
    standing = consents(client, merchant, member)
    assert standing["current"]["email"]["granted"] is True
    assert standing["current"]["email"]["source"] == "register"
    assert standing["current"]["sms"] == {
        "granted": False,
        "since": None,
        "source": None,
        "text_version": None,
    }
    # Phone canvassing is off until the customer asks to be called back.
    assert standing["current"]["phone"]["granted"] is False
    assert [(e["channel"], e["granted"]) for e in standing["history"]] == [("email", True)]


def test_each_change_is_kept_with_the_text_version(client, merchant, clock):
    member = enrol(client, merchant, "+420601444001")
    for body in (
        {"email": True, "sms": True, "text_version": "2026-09"},
        {"sms": False},
        {"sms": False},  # no change: no event
        {"phone": True, "source": "back_office", "text_version": "callback-1"},
    ):
        clock.advance(timedelta(minutes=1))
        response = client.post(
            f"/v1/customers/{member['id']}/consents", json=body, headers=merchant.register
        )
        assert response.status_code == 200, response.text
    standing = response.json()
    assert [
        (e["channel"], e["granted"], e["source"], e["text_version"]) for e in standing["history"]
    ] == [
        ("email", True, "register", "2026-09"),
        ("sms", True, "register", "2026-09"),
        ("sms", False, "register", None),
        ("phone", True, "back_office", "callback-1"),
    ]
    profile = client.get(f"/v1/customers/{member['id']}", headers=merchant.register).json()
    assert profile["consent_marketing_email"] is True and profile["consent_marketing_sms"] is False
    refused = client.post(
        f"/v1/customers/{member['id']}/consents",
        json={"email": False, "source": "customer_page"},
        headers=merchant.register,
    )
    assert refused.status_code == 422  # the customer page is the customer's own


def test_a_patch_of_the_profile_records_its_consents_too(client, merchant):
    member = enrol(client, merchant, "+420601444002")
    client.patch(
        f"/v1/customers/{member['id']}",
        json={"consent_marketing_sms": True},
        headers=merchant.register,
    )
    (event,) = consents(client, merchant, member)["history"]
    assert (event["channel"], event["granted"]) == ("sms", True)


def test_a_marketing_mails_link_unsubscribes_in_one_click(client, merchant, services):
    member = enrol(client, merchant, "+420601444003", consent_marketing_email=True)
    token = services.consents.unsubscribe_token(uuid.UUID(merchant.id), uuid.UUID(member["id"]))
    response = client.post(f"/v1/unsubscribe/{token}")
    assert response.status_code == 200, response.text
    assert response.json() == {"merchant_id": merchant.id, "channel": "email", "granted": False}
    standing = consents(client, merchant, member)
    assert standing["current"]["email"]["granted"] is False
    assert standing["current"]["email"]["source"] == "unsubscribe_link"
    again = client.post(f"/v1/unsubscribe/{token}")  # a second click changes nothing
    assert again.status_code == 200
    assert len(consents(client, merchant, member)["history"]) == 2
    head, _, body = token.partition(".")
    altered = head + "." + ("A" if body[0] != "A" else "B") + body[1:]
    for bad in (altered, "cgu1.nonsense", "x"):
        refused = client.post(f"/v1/unsubscribe/{bad}")
        assert refused.status_code == 404, bad
        assert refused.json()["code"] == "unsubscribe_link_invalid"

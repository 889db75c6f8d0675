"""Personal data: export everything held on a member, erase it and keep the books."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from cagnotte.db.tables import customers, memberships
from cagnotte.jobs import erase_inactive
from tests.e2e.api.conftest import enrol, top_up

CAKE = {"sku": "CAKE", "quantity": 2, "unit_price_minor": 7_500}


def member_with_history(client, merchant) -> dict:
    points = client.post(
        "/v1/loyalty-programs",
        headers=merchant.manager,
        json={"kind": "points", "name": "Café points", "currency": "CZK"},
    )
    assert points.status_code == 201
    eloise = enrol(
        client,
        merchant,
        "+420601888000",
        first_name="Éloïse",
        last_name="Dvořák",
        email="eloise@example.com",
        birth_date="1990-04-01",
    )
    assert top_up(client, merchant, eloise["id"], 10_000).status_code == 201
    check = client.post(
        "/v1/checks",
        json={"currency": "CZK", "customer_id": eloise["id"], "lines": [CAKE]},
        headers={**merchant.register, "Idempotency-Key": "c1"},
    )
    assert check.status_code == 201, check.text
    return eloise


def test_the_export_holds_the_profile_accounts_transfers_and_checks(client, merchant):
    eloise = member_with_history(client, merchant)
    response = client.get(f"/v1/customers/{eloise['id']}/personal-data", headers=merchant.manager)
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["membership"]["first_name"] == "Éloïse"
    assert export["membership"]["email"] == "eloise@example.com"
    assert export["membership"]["birth_date"] == "1990-04-01"
    by_purpose = {account["purpose"]: account for account in export["accounts"]}
    assert by_purpose["wallet"]["available"] == 10_000
    assert [t["amount"] for t in by_purpose["wallet"]["transfers"]] == [10_000]
    assert by_purpose["loyalty"]["credit_balance"] == 15  # 150.00 CZK → 15 points
    (check,) = export["checks"]
    assert check["gross_minor"] == 15_000 and check["lines"][0]["sku"] == "CAKE"
    cashier = client.get(f"/v1/customers/{eloise['id']}/personal-data", headers=merchant.register)
    assert cashier.status_code == 403


def test_erasure_forgets_the_person_and_keeps_balances_and_history(client, merchant, services):
    eloise = member_with_history(client, merchant)
    before = client.get(f"/v1/customers/{eloise['id']}/card", headers=merchant.register).json()
    erased = client.post(f"/v1/customers/{eloise['id']}/erasure", headers=merchant.manager)
    assert erased.status_code == 200, erased.text
    again = client.post(f"/v1/customers/{eloise['id']}/erasure", headers=merchant.manager)
    assert again.json() == erased.json()  # erasing twice: the first erasure's time

    member = client.get(f"/v1/customers/{eloise['id']}", headers=merchant.register).json()
    for field in ("phone", "first_name", "last_name", "email", "birth_date", "address"):
        assert member[field] is None, field
    assert member["erased_at"] == erased.json()["erased_at"]
    # The books: the same balances, visits and checks under the membership's id.
    after = client.get(f"/v1/customers/{eloise['id']}/card", headers=merchant.register).json()
    assert after["spending"] == before["spending"]
    assert after["programs"] == before["programs"] and after["wallets"] == before["wallets"]
    assert [c["id"] for c in after["recent_checks"]] == [c["id"] for c in before["recent_checks"]]
    # Nobody finds her by phone or e-mail any more, nor by name.
    for query in ({"phone": "+420601888000"}, {"phone": "601 888 000"}, {"name": "eloise"}):
        found = client.get("/v1/customers", params=query, headers=merchant.register)
        assert found.status_code == 200
        body = found.json()
        items = body["items"] if isinstance(body, dict) else body
        assert items == [], query
    with services.database.read() as connection:
        identity = connection.execute(
            select(customers.c.phone, customers.c.email, customers.c.erased_at).where(
                customers.c.id
                == select(memberships.c.customer_id)
                .where(memberships.c.id == uuid.UUID(eloise["id"]))
                .scalar_subquery()
            )
        ).one()
    assert identity.phone is None and identity.email.startswith("erased-")
    assert identity.email.endswith("@erased.invalid") and identity.erased_at is not None
    # The register may enrol the same phone again: a new person, with nothing of hers.
    anew = enrol(client, merchant, "+420601888000")
    assert anew["id"] != eloise["id"] and anew["first_name"] is None


def test_an_identity_still_used_elsewhere_keeps_its_phone(
    client, merchant, other_merchant, services
):
    here = enrol(client, merchant, "+420601888111", email="both@example.com")
    there = enrol(client, other_merchant, "+420601888111")
    client.post(f"/v1/customers/{here['id']}/erasure", headers=merchant.manager)
    elsewhere = client.get(f"/v1/customers/{there['id']}", headers=other_merchant.register)
    assert elsewhere.json()["phone"] == "+420601888111" and elsewhere.json()["erased_at"] is None
    with services.database.read() as connection:
        email = connection.execute(
            select(customers.c.email).where(customers.c.phone == "+420601888111")
        ).scalar_one()
    assert email == "both@example.com"


def test_the_retention_job_erases_members_inactive_for_years(client, merchant, services, clock):
    idle = enrol(client, merchant, "+420601888222", first_name="Idle")
    clock.advance(timedelta(days=365 * 2))
    busy = enrol(client, merchant, "+420601888333", first_name="Busy")
    assert erase_inactive(services) == {}  # no retention setting: nobody
    services.settings.retention_years = 1
    try:
        assert erase_inactive(services) == {"members_erased": 1}
    finally:
        services.settings.retention_years = None
    assert (
        client.get(f"/v1/customers/{idle['id']}", headers=merchant.register).json()["first_name"]
        is None
    )
    assert (
        client.get(f"/v1/customers/{busy['id']}", headers=merchant.register).json()["first_name"]
        == "Busy"
    )

"""The information notice given at enrolment: the merchant's own text, versioned, recorded
on the membership (the Up2pay seed: "N'oubliez pas d'informer votre client des
conditions de traitement de ses données personnelles")."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from cagnotte.crm.notices import default_notice_text
from cagnotte.crm.tables import information_notices
from tests.e2e.api.concurrency import all_at_once
from tests.e2e.api.conftest import bearer

NOTICE = (
    "Café Bleu keeps your phone number and purchases to run its loyalty program. "
    "See, export or erase them on your customer page."
)


def set_notice(client, merchant, text: str):
    return client.patch(
        f"/v1/merchants/{merchant.id}", json={"notice_text": text}, headers=merchant.owner
    )


def enrol_new(client, merchant, phone: str) -> dict:
    response = client.post("/v1/customers", json={"phone": phone}, headers=merchant.register)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_enrolment_answers_the_merchants_notice_and_records_it_as_given(
    client, merchant, clock
):
    assert set_notice(client, merchant, NOTICE).status_code == 200
    member = enrol_new(client, merchant, "+420601777001")
    assert member["notice"]["text"] == NOTICE
    assert member["notice"]["version"] == 1 and member["notice"]["is_default"] is False
    assert member["notice_version"] == 1
    assert member["notice_given_at"] == clock.now().isoformat().replace("+00:00", "Z")
    read = client.get(f"/v1/customers/{member['id']}", headers=merchant.register).json()
    assert (read["notice_version"], read["notice_given_at"]) == (1, member["notice_given_at"])
    # Enrolled already: the same membership, its record unchanged, nothing to give.
    again = client.post("/v1/customers", json={"phone": "+420601777001"}, headers=merchant.register)
    assert again.status_code == 200
    assert again.json()["notice"] is None and again.json()["notice_version"] == 1


def test_a_changed_text_is_a_new_version_which_a_later_enrolment_records(client, merchant, clock):
    set_notice(client, merchant, NOTICE)
    first = enrol_new(client, merchant, "+420601777002")
    assert set_notice(client, merchant, NOTICE).status_code == 200  # the same: no version
    clock.advance(timedelta(days=3))
    assert set_notice(client, merchant, NOTICE + " Now with stamps.").status_code == 200
    later = enrol_new(client, merchant, "+420601777003")
    assert later["notice"]["version"] == 2
    assert later["notice"]["text"] == NOTICE + " Now with stamps."
    assert later["notice_version"] == 2
    # The first member's record still names the version they were given, whose text stays.
    read = client.get(f"/v1/customers/{first['id']}", headers=merchant.register).json()
    assert read["notice_version"] == 1
    versions = client.get(f"/v1/merchants/{merchant.id}/notices", headers=merchant.manager)
    assert versions.status_code == 200, versions.text
    assert [(v["version"], v["text"]) for v in versions.json()["items"]] == [
        (2, NOTICE + " Now with stamps."),
        (1, NOTICE),
    ]


def test_a_merchant_without_a_text_gives_the_default_built_from_its_name(
    client, merchant, services
):
    member = enrol_new(client, merchant, "+420601777004")
    notice = member["notice"]
    assert notice["is_default"] is True and notice["version"] == 1
    assert notice["text"] == default_notice_text("Café Bleu")
    assert "Café Bleu" in notice["text"]
    enrol_new(client, merchant, "+420601777005")  # the default is recorded once
    with services.database.read() as connection:
        assert connection.execute(select(information_notices.c.version)).scalars().all() == [1]
    # The merchant's own text comes after the default the first members were given.
    set_notice(client, merchant, NOTICE)
    assert enrol_new(client, merchant, "+420601777006")["notice"]["version"] == 2


def test_the_notice_is_in_the_personal_data_export_and_survives_erasure(client, merchant):
    set_notice(client, merchant, NOTICE)
    member = enrol_new(client, merchant, "+420601777007")
    exported = client.get(
        f"/v1/customers/{member['id']}/personal-data", headers=merchant.manager
    ).json()
    assert exported["notice"]["version"] == 1 and exported["notice"]["text"] == NOTICE
    assert exported["notice"]["given_at"].startswith("2026-01-05T09:00:00")
    assert exported["membership"]["notice_version"] == 1
    erased = client.post(f"/v1/customers/{member['id']}/erasure", headers=merchant.manager)
    assert erased.status_code == 200, erased.text
    read = client.get(f"/v1/customers/{member['id']}", headers=merchant.register).json()
    assert read["phone"] is None and read["erased_at"] is not None
    assert (read["notice_version"], read["notice_given_at"]) == (1, member["notice_given_at"])


def test_a_bad_notice_is_refused_and_changes_nothing(client, merchant, operator_key):
    for text in ("", "too short", "x" * 20_001, 42, None):
        response = set_notice(client, merchant, text)
        if text is None:
            assert response.status_code == 200  # left out: stays
            continue
        assert response.status_code == 422, (text, response.text)
        assert response.json()["code"] == "validation_error"
    versions = client.get(f"/v1/merchants/{merchant.id}/notices", headers=merchant.manager)
    assert versions.json()["items"] == []
    # Only its owner (or the operator) writes it; a manager may not, a cashier neither.
    for headers in (merchant.manager, merchant.register):
        response = client.patch(
            f"/v1/merchants/{merchant.id}", json={"notice_text": NOTICE}, headers=headers
        )
        assert response.status_code == 403, response.text
    by_operator = client.patch(
        f"/v1/merchants/{merchant.id}", json={"notice_text": NOTICE}, headers=bearer(operator_key)
    )
    assert by_operator.status_code == 200


def test_twenty_first_enrolments_at_once_record_one_default_notice(server_url, merchant, services):
    phones = iter(f"+4206017771{n:02d}" for n in range(20))
    lock = threading.Lock()

    def enrol_one(http):
        with lock:
            phone = next(phones)
        return http.post(
            f"{server_url}/v1/customers", json={"phone": phone}, headers=merchant.register
        )

    responses = all_at_once(20, enrol_one)
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    assert {r.json()["notice_version"] for r in responses} == {1}
    with services.database.read() as connection:
        assert connection.execute(select(information_notices.c.version)).scalars().all() == [1]


def test_twenty_changes_at_once_make_twenty_versions_one_after_the_other(
    server_url, merchant, services
):
    texts = iter(f"Notice number {n}: how Café Bleu processes your data." for n in range(20))
    lock = threading.Lock()

    def change(http):
        with lock:
            text = next(texts)
        return http.patch(
            f"{server_url}/v1/merchants/{merchant.id}",
            json={"notice_text": text},
            headers=merchant.owner,
        )

    responses = all_at_once(20, change)
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    with services.database.read() as connection:
        versions = connection.execute(
            select(information_notices.c.version).order_by(information_notices.c.version)
        ).scalars()
        assert list(versions) == list(range(1, 21))

"""The directory's search: names without case or accents, phones in any format, by name."""

from __future__ import annotations

from tests.e2e.api.conftest import enrol


def search(client, merchant, **query) -> list[str]:
    names, cursor = [], None
    while True:
        params = {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/customers", params=params, headers=merchant.register)
        assert response.status_code == 200, response.text
        page = response.json()
        names += [f"{m['first_name']} {m['last_name']}" for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return names


def test_names_are_found_whatever_the_case_and_accents_in_name_order(client, merchant):
    for phone, first, last in (
        ("+420601700001", "Éloïse", "Dvořák"),
        ("+420601700002", "eloise", "Novák"),
        ("+420601700003", "Zoë", "Eloy"),
        ("+420601700004", "Adam", "Šťastný"),
    ):
        enrol(client, merchant, phone, first_name=first, last_name=last)
    assert search(client, merchant, name="eloise") == ["Éloïse Dvořák", "eloise Novák"]
    assert search(client, merchant, name="ÉLOÏSE") == ["Éloïse Dvořák", "eloise Novák"]
    assert search(client, merchant, name="dvorak") == ["Éloïse Dvořák"]
    assert search(client, merchant, name="stastny") == ["Adam Šťastný"]
    # "elo" is in three names: ordered by name (first, then last).
    assert search(client, merchant, name="elo") == [
        "Éloïse Dvořák",
        "eloise Novák",
        "Zoë Eloy",
    ]
    assert search(client, merchant, name="  ") == search(client, merchant)


def test_a_phone_is_found_in_any_format(client, merchant):
    enrol(client, merchant, "+420601700010", first_name="Jana", last_name="Malá")
    for phone in ("+420601700010", "601 700 010", "601-700-010", "00420 601 700 010", "700010"):
        assert search(client, merchant, phone=phone) == ["Jana Malá"], phone
    assert search(client, merchant, phone="+420601700011") == []

"""The directory's search: names without case or accents, phones in any format, by name."""

from __future__ import annotations

import uuid

from sqlalchemy import event

from cagnotte.db.schema import POSTGRESQL_ONLY_INDEXES
from cagnotte.security.principals import Principal
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


def test_a_whole_number_finds_that_number_not_the_same_digits_of_another_country(client, merchant):
    enrol(client, merchant, "+420601700020", first_name="Jana", last_name="Malá")
    enrol(client, merchant, "+48601700020", first_name="Agnieszka", last_name="Nowak")
    # Read in the merchant's country (Czechia), the number is +420601700020 only.
    assert search(client, merchant, phone="601 700 020") == ["Jana Malá"]
    assert search(client, merchant, phone="+48 601 700 020") == ["Agnieszka Nowak"]
    # Digits that are no whole number are looked for anywhere in the numbers.
    assert search(client, merchant, phone="1700020") == ["Agnieszka Nowak", "Jana Malá"]


def _statements_of(services, search) -> list[tuple[str, object]]:
    sent: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(services.database.engine, "before_cursor_execute", keep)
    try:
        search()
    finally:
        event.remove(services.database.engine, "before_cursor_execute", keep)
    return sent


def _plan(services, search) -> str:
    """The plan of the page's select the search sends, after the settings it makes; on
    PostgreSQL with sequential scans off: which index *can* serve it, even on a few rows."""
    sent = _statements_of(services, search)
    page = max(i for i, (statement, _) in enumerate(sent) if "FROM memberships" in statement)
    postgresql = services.database.is_postgresql
    with services.database.engine.connect() as connection, connection.begin():
        if postgresql:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for statement, parameters in sent[:page]:
            if statement.startswith("SET LOCAL"):
                connection.exec_driver_sql(statement, parameters)
        prefix = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
        rows = connection.exec_driver_sql(prefix + sent[page][0], sent[page][1]).all()
    return "\n".join(str(row[-1]) for row in rows)


def _many_members(services, merchant_id: str, count: int) -> None:
    """`count` more members on PostgreSQL, named md5 digits, the indexes and statistics
    up to date: the planner then weighs the indexes as it would in a real directory."""
    with services.database.transaction() as connection:
        connection.exec_driver_sql(
            "INSERT INTO customers (id, phone, created_at)"
            " SELECT gen_random_uuid(), '+4207' || lpad(n::text, 8, '0'), now()"
            " FROM generate_series(1, %(count)s) AS n",
            {"count": count},
        )
        connection.exec_driver_sql(
            "INSERT INTO memberships (merchant_id, id, customer_id, phone, status, search_name,"
            " created_at, updated_at)"
            " SELECT %(merchant)s, gen_random_uuid(), id, phone, 'active', md5(phone), now(),"
            " now() FROM customers WHERE phone LIKE '+4207%%'",
            {"merchant": uuid.UUID(merchant_id), "count": count},
        )
        # What autovacuum would do: the GIN indexes' pending rows moved into the indexes.
        for index in POSTGRESQL_ONLY_INDEXES:
            connection.exec_driver_sql(f"SELECT gin_clean_pending_list('{index}'::regclass)")
        connection.exec_driver_sql("ANALYZE memberships")


def test_each_search_is_served_by_an_index(client, merchant, services):
    enrol(client, merchant, "+420601700030", first_name="Éloïse", last_name="Dvořák")
    caller = Principal(merchant_id=uuid.UUID(merchant.id), role="cashier")

    def plan(**query) -> str:
        return _plan(
            services,
            lambda: services.customers.search(
                caller, name=query.get("name"), phone=query.get("phone")
            ),
        )

    if services.database.is_postgresql:
        _many_members(services, merchant.id, 5_000)
        # A fragment by the trigram indexes (pg_trgm, migration 0035), a number by equality.
        assert "ix_memberships_search_name_trgm" in plan(name="Éloï")
        assert "ix_memberships_phone_trgm" in plan(phone="700030")
        assert "ix_memberships_phone " in plan(phone="601 700 030") + " "
    else:
        # A page is a walk of the name index, in the search's order (no sort), the
        # fragment checked on the index's entries; a number looked up in its own.
        for found in (plan(name="Éloï"), plan(phone="700030")):
            assert "USING INDEX ix_memberships_search_name " in found + " ", found
            assert "TEMP B-TREE" not in found, found
        assert "USING INDEX ix_memberships_phone " in plan(phone="601 700 030") + " "

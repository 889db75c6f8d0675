"""Values unique across merchants (staff e-mails, API keys) held by platform_lookups."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from cagnotte import errors
from cagnotte.db.tables import platform_lookups, staff
from cagnotte.security.principals import Principal
from tests.e2e.api.conftest import make_merchant


def _owners(client, operator_key, count: int) -> list[Principal]:
    owners = []
    for index in range(count):
        merchant = make_merchant(client, operator_key, f"Shop {index}")
        owners.append(client.app.state.services.merchants.authenticate_key(merchant.owner_key))
    return owners


def test_a_staff_email_names_one_person_across_merchants(client, operator_key, services):
    first, second = _owners(client, operator_key, 2)
    services.merchants.create_staff(
        first, email="Ana@Example.com", name="Ana", role="cashier", password=None
    )
    try:
        services.merchants.create_staff(
            second, email="ana@example.com", name="Ana B", role="cashier", password=None
        )
    except errors.Conflict:
        pass
    else:
        raise AssertionError("a second merchant got the same staff e-mail")
    with services.database.read() as connection:
        assert (
            connection.execute(
                select(func.count()).select_from(staff).where(staff.c.email == "ana@example.com")
            ).scalar_one()
            == 1
        )


def test_twenty_parallel_staff_creations_with_one_email_make_one(
    client, operator_key, services, postgres_url
):
    owners = _owners(client, operator_key, 4)

    def create(index: int) -> str:
        try:
            services.merchants.create_staff(
                owners[index % 4],
                email="same@example.com",
                name=f"N{index}",
                role="cashier",
                password=None,
            )
            return "created"
        except errors.Conflict:
            return "conflict"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(create, range(20)))
    assert sorted(outcomes) == ["conflict"] * 19 + ["created"]
    with services.database.read() as connection:
        assert (
            connection.execute(
                select(func.count()).select_from(staff).where(staff.c.email == "same@example.com")
            ).scalar_one()
            == 1
        )
        assert (
            connection.execute(
                select(func.count())
                .select_from(platform_lookups)
                .where(platform_lookups.c.value == "same@example.com")
            ).scalar_one()
            == 1
        )


def test_an_api_key_is_found_by_its_hash_through_the_lookup(client, operator_key, services):
    (owner,) = _owners(client, operator_key, 1)
    issued = services.merchants.create_api_key(owner, name="till", role="cashier", store_id=None)
    caller = services.merchants.authenticate_key(issued.secret)
    assert caller is not None and caller.merchant_id == owner.merchant_id
    assert caller.role == "cashier"
    assert services.merchants.authenticate_key(issued.secret + "x") is None

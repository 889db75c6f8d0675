"""Catalogue fixtures: the API app (from tests/api), a merchant's keys, and file builders."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select

from cagnotte.bootstrap import Services
from cagnotte.catalogue.tables import product_categories, products
from tests.e2e.api.conftest import (  # noqa: F401 - fixtures shared with the API tests
    MerchantSetup,
    bearer,
    client,
    mailer,
    make_merchant,
    merchant,
    operator_key,
    other_merchant,
    services,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ("sku", "name", "category", "unit_price", "currency", "tax_free", "members_only", "active")


def create_category(
    client: TestClient, merchant: MerchantSetup, name: str, parent: dict | None = None
) -> dict:
    body: dict[str, Any] = {"name": name}
    if parent is not None:
        body["parent_id"] = parent["id"]
    response = client.post("/v1/catalogue/categories", json=body, headers=merchant.manager)
    assert response.status_code == 201, response.text
    return response.json()


def create_product(client: TestClient, merchant: MerchantSetup, sku: str, **values: Any) -> dict:
    body = {
        "sku": sku,
        "name": f"Product {sku}",
        "unit_price_minor": 250,
        "currency": "CZK",
        **values,
    }
    response = client.post("/v1/catalogue/products", json=body, headers=merchant.manager)
    assert response.status_code == 201, response.text
    return response.json()


def csv_file(
    rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER, delimiter: str = ","
) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def xlsx_file(rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def import_file(
    client: TestClient, headers: dict[str, str], content: bytes, media_type: str = "text/csv"
):
    return client.post(
        "/v1/catalogue/imports", content=content, headers={**headers, "Content-Type": media_type}
    )


def catalogue_rows(services: Services, merchant: MerchantSetup) -> dict[str, list[tuple]]:
    """Every catalogue row of the merchant, to prove that a refusal wrote nothing."""
    merchant_id = uuid.UUID(merchant.id)
    with services.database.read() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(
                    select(table)
                    .where(table.c.merchant_id == merchant_id)
                    .order_by(*table.primary_key.columns)
                )
            ]
            for table in (product_categories, products)
        }


def count(services: Services, table) -> int:
    with services.database.read() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def skus(page: dict) -> list[str]:
    return [item["sku"] for item in page["items"]]


@pytest.fixture
def cashier(client, merchant) -> dict[str, str]:
    """A cashier's API key (not a register's)."""
    key = client.post(
        "/v1/api-keys", json={"name": "cashier", "role": "cashier"}, headers=merchant.owner
    )
    assert key.status_code == 201, key.text
    return bearer(key.json()["secret"])

"""Gift card reports: a program or reseller named like a formula is exported as text."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.e2e.gift_cards.conftest import create_program, new_cards, post

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\t=1"]


def _csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def _xlsx_rows(response) -> list[dict[str, object]]:
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, *rows = sheet.iter_rows()
    return [{title.value: cell for title, cell in zip(header, row, strict=True)} for row in rows]


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_program_and_a_reseller_named_like_formulas_are_text_in_every_report(
    client, merchant, formula
):
    program = create_program(client, merchant, name=formula)
    reseller = client.post(
        "/v1/gift-card-resellers",
        json={"name": formula, "program_ids": [program["id"]]},
        headers=merchant.owner,
    )
    assert reseller.status_code == 201, reseller.text
    (card,) = new_cards(client, merchant, program, 1)
    reseller_key = {"Authorization": f"Bearer {reseller.json()['api_key']['secret']}"}
    activated = post(
        client,
        "/v1/gift-cards/activations",
        {"number": card.number, "amount_minor": 5_000},
        reseller_key,
    )
    assert activated.status_code == 201, activated.text
    # As stored (the API strips surrounding white space): what the files must quote.
    name = program["name"]
    assert reseller.json()["name"] == name
    liability = "/v1/gift-card-reports/liability"
    settlement = (
        f"/v1/gift-card-resellers/{reseller.json()['id']}/settlement?from=2026-01-01&to=2026-01-31"
    )

    (liability_csv,) = _csv_rows(client.get(f"{liability}?format=csv", headers=merchant.manager))
    (settlement_csv,) = _csv_rows(client.get(f"{settlement}&format=csv", headers=merchant.manager))
    (liability_xlsx,) = _xlsx_rows(client.get(f"{liability}?format=xlsx", headers=merchant.manager))
    (settlement_xlsx,) = _xlsx_rows(
        client.get(f"{settlement}&format=xlsx", headers=merchant.manager)
    )

    assert liability_csv["program_name"] == settlement_csv["reseller_name"] == "'" + name
    assert (liability_csv["outstanding_minor"], settlement_csv["total_minor"]) == ("5000", "5000")
    for cell in (liability_xlsx["program_name"], settlement_xlsx["reseller_name"]):
        assert (cell.data_type, cell.value) == ("s", "'" + name)
    for cell in (liability_xlsx["outstanding_minor"], settlement_xlsx["total_minor"]):
        assert (cell.data_type, cell.value) == ("n", 5_000)


def test_the_printers_file_keeps_numbers_and_pins_as_text(client, merchant, program):
    batch = client.post(
        f"/v1/gift-card-programs/{program['id']}/batches",
        json={"card_count": 2},
        headers=merchant.manager,
    ).json()

    rows = _xlsx_rows(
        client.post(
            f"/v1/gift-card-batches/{batch['id']}/export?format=xlsx", headers=merchant.manager
        )
    )

    assert len(rows) == 2
    for row in rows:
        assert row["number"].data_type == "s" and row["number"].value.isdigit()
        assert row["pin"].data_type == "s" and row["pin"].value.isdigit()
        assert row["sequence"].data_type == "n"

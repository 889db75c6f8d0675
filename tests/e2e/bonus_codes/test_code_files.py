"""Bonus code files: a campaign named like a formula is text in the CSV and the XLSX."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.e2e.bonus_codes.conftest import pay_by_bank, request_campaign

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\t=1"]


def _attachments(mailer) -> dict[str, bytes]:
    (message,) = [m for m in mailer.sent if m["Subject"].startswith("Bonus codes")]
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_campaign_named_like_a_formula_is_text_in_the_mailed_and_downloaded_files(
    client, merchant, operator_key, clock, mailer, formula
):
    campaign = request_campaign(client, merchant, clock, name=formula, code_count=3)
    paid = pay_by_bank(client, operator_key, 60_000, campaign["funding"]["variable_symbol"])
    assert paid.status_code == 201, paid.text
    name = campaign["name"]  # as stored: the API strips surrounding white space
    base = f"/v1/bonus-campaigns/{campaign['id']}"
    mailed = _attachments(mailer)
    downloaded_csv = client.get(f"{base}/codes.csv", headers=merchant.owner)
    downloaded_xlsx = client.get(f"{base}/codes.xlsx", headers=merchant.owner)
    assert downloaded_csv.status_code == downloaded_xlsx.status_code == 200

    for text in (mailed["bonus-codes.csv"], downloaded_csv.text):
        if isinstance(text, bytes):
            text = text.decode()
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert len(rows) == 3
        assert {row["campaign"] for row in rows} == {"'" + name}
        assert {row["value_minor"] for row in rows} == {"20000"}
    for content in (mailed["bonus-codes.xlsx"], downloaded_xlsx.content):
        sheet = load_workbook(io.BytesIO(content)).active
        rows = list(sheet.iter_rows(min_row=2))
        assert len(rows) == 3
        for code, value, _currency, valid_from, _valid_to, campaign_name in rows:
            assert (campaign_name.data_type, campaign_name.value) == ("s", "'" + name)
            assert code.data_type == "s" and len(code.value) == 10
            assert (value.data_type, value.value) == ("n", 20_000)
            assert valid_from.is_date

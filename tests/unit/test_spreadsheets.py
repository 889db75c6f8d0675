"""Exported files: a text a spreadsheet would read as a formula is written as text."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook

from cagnotte.spreadsheets import csv_file, safe_cell, xlsx_file

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_text_that_starts_like_a_formula_gets_a_leading_quote(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Café Bleu", "", "1+1", "a=b", None, 0, -2_500, 7_000])
def test_other_texts_numbers_and_empty_cells_are_left_as_they_are(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("text", FORMULAS)
def test_a_csv_cell_that_would_be_a_formula_is_quoted_and_a_negative_amount_stays_a_number(text):
    content = csv_file(["name", "amount_minor"], [[text, -2_500]])

    (row,) = list(csv.DictReader(io.StringIO(content.decode(), newline="")))
    assert row == {"name": "'" + text, "amount_minor": "-2500"}


@pytest.mark.parametrize("text", FORMULAS)
def test_an_xlsx_text_is_a_string_cell_and_numbers_and_dates_keep_their_types(text):
    moment = datetime(2026, 1, 5, 9, 0)
    content = xlsx_file("report", ["name", "amount_minor", "at"], [[text, -2_500, moment]])

    sheet = load_workbook(io.BytesIO(content)).active
    name, amount, at = sheet[2]
    # XML reads a carriage return back as a line feed; the cell is still quoted text.
    assert (name.data_type, name.value) == ("s", "'" + text.replace("\r", "\n"))
    assert (amount.data_type, amount.value) == ("n", -2_500)
    assert (at.is_date, at.value) == (True, moment)


def test_control_characters_an_xlsx_cannot_hold_are_dropped_rather_than_refusing_the_file():
    content = xlsx_file("report", ["name"], [["\x01=1\x07 bell"]])

    cell = load_workbook(io.BytesIO(content)).active["A2"]
    assert (cell.data_type, cell.value) == ("s", "'=1 bell")

"""Reading product files, without a database: prices exactly, flags, line numbers, limits."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from cagnotte.catalogue import importing
from cagnotte.catalogue.importing import ImportRow, RowError, parse_products
from tests.e2e.catalogue.conftest import csv_file, xlsx_file

SCALES = {"CZK": 2, "EUR": 2, "JPY": 0, "BTC": 8}
MINIMAL = ("sku", "name", "unit_price", "currency")


def rows_of(content: bytes, file_format: str = "csv") -> tuple[ImportRow, ...]:
    parsed = parse_products(content, file_format, SCALES)
    assert parsed.errors == (), parsed.errors
    return parsed.rows


def errors_of(content: bytes, file_format: str = "csv") -> list[tuple[int | None, str | None]]:
    parsed = parse_products(content, file_format, SCALES)
    assert parsed.rows == ()
    return [(error.line, error.field) for error in parsed.errors]


def price_of(text: str, currency: str = "CZK", delimiter: str = ",") -> int | RowError:
    parsed = parse_products(
        csv_file([("SKU-1", "Product", text, currency)], MINIMAL, delimiter), "csv", SCALES
    )
    return parsed.rows[0].unit_price_minor if parsed.rows else parsed.errors[0]


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("2.5", "CZK", 250),
        ("2.50", "CZK", 250),
        ("2.500", "CZK", 250),
        ("2", "CZK", 200),
        ("0", "CZK", 0),
        ("0.01", "CZK", 1),
        (" 12.30 ", "CZK", 1230),
        ("007.10", "CZK", 710),
        ("1234.50", "CZK", 123450),
        ("10000000000.00", "CZK", 10**12),
        ("1500", "JPY", 1500),
        ("0.00000001", "BTC", 1),
        ("12.3", "czk", 1230),
    ],
)
def test_a_plain_decimal_price_is_read_exactly_in_minor_units(text, currency, minor):
    assert price_of(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "says"),
    [
        ("1 234,50", "CZK", "no thousands separators"),
        ("1,234.50", "CZK", "no thousands separators"),
        ("1'234.50", "CZK", "no thousands separators"),
        ("1\u00a0234.50", "CZK", "no thousands separators"),
        ("2,50", "CZK", "decimal point"),
        ("2.505", "CZK", "CZK has 2 decimals"),
        ("1.5", "JPY", "JPY has 0 decimals"),
        ("-1", "CZK", "cannot be negative"),
        ("-0.50", "CZK", "cannot be negative"),
        ("1e3", "CZK", "not a plain price"),
        ("NaN", "CZK", "not a plain price"),
        ("Infinity", "CZK", "not a plain price"),
        (".5", "CZK", "not a plain price"),
        ("5.", "CZK", "not a plain price"),
        ("+5", "CZK", "not a plain price"),
        ("0x10", "CZK", "not a plain price"),
        ("١٢", "CZK", "not a plain price"),  # Arabic-Indic digits
        ("10000000000.01", "CZK", "at most 10000000000.00 CZK"),
        ("", "CZK", "required"),
    ],
)
def test_a_price_that_is_not_a_plain_decimal_of_its_currency_is_refused(text, currency, says):
    error = price_of(text, currency)
    assert isinstance(error, RowError) and error.field == "unit_price" and error.line == 2
    assert says in error.message


def test_a_file_separated_by_semicolons_has_a_decimal_comma_and_only_that():
    assert price_of("1234,50", delimiter=";") == 123450
    assert price_of("2,5", delimiter=";") == 250
    for text in ("2.50", "1.234,50", "1 234,50"):
        error = price_of(text, delimiter=";")
        assert isinstance(error, RowError) and "decimal comma" in error.message


def test_a_price_in_an_unknown_currency_is_one_error_of_the_currency():
    parsed = parse_products(
        csv_file([("A", "B", "2.50", "XYZ"), ("C", "D", "2.505", "XYZ")], MINIMAL), "csv", SCALES
    )
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "currency"), (3, "currency")]
    parsed = parse_products(csv_file([("A", "B", "abc", "XYZ")], MINIMAL), "csv", SCALES)
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "currency"), (2, "unit_price")]


def test_numeric_xlsx_cells_are_read_as_the_spreadsheet_shows_them():
    content = xlsx_file(
        [
            (8594001234567, "Beer", 2.5, "CZK", True),
            ("TEA", "Tea", 12, "CZK", 0),
            ("ODD", "Odd", 0.1, "CZK", 1),
        ],
        ("sku", "name", "unit_price", "currency", "active"),
    )
    rows = rows_of(content, "xlsx")
    assert [(r.sku, r.unit_price_minor, r.active) for r in rows] == [
        ("8594001234567", 250, True),
        ("TEA", 1200, False),
        ("ODD", 10, True),
    ]
    # 2.675 is not a double; the shortest decimal that reads back as it is "2.675".
    content = xlsx_file([("A", "A", 2.675, "CZK"), ("B", "B", 1e20, "CZK")], MINIMAL)
    parsed = parse_products(content, "xlsx", SCALES)
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "unit_price"), (3, "unit_price")]
    assert "2.675 has more" in parsed.errors[0].message


def test_flags_read_as_words_or_numbers_and_an_empty_cell_is_none():
    header = ("sku", "name", "unit_price", "currency", "tax_free", "members_only", "active")
    rows = rows_of(
        csv_file(
            [
                ("A", "A", "1", "CZK", "TRUE", "no", ""),
                ("B", "B", "1", "CZK", "y", "1", "0"),
                ("C", "C", "1", "CZK", "", "Yes", "False"),
            ],
            header,
        )
    )
    assert [(r.tax_free, r.members_only, r.active) for r in rows] == [
        (True, False, None),
        (True, True, False),
        (None, True, False),
    ]
    assert errors_of(csv_file([("A", "A", "1", "CZK", "maybe", "2", "ja")], header)) == [
        (2, "tax_free"),
        (2, "members_only"),
        (2, "active"),
    ]


def test_a_category_is_a_path_of_names_from_the_top():
    header = ("sku", "name", "unit_price", "currency", "category")
    rows = rows_of(
        csv_file(
            [("A", "A", "1", "CZK", "Drinks / Hot drinks"), ("B", "B", "1", "CZK", "")], header
        )
    )
    assert rows[0].category_path == ("Drinks", "Hot drinks") and rows[1].category_path is None
    deep = "/".join(f"L{i}" for i in range(8))
    assert errors_of(
        csv_file(
            [
                ("A", "A", "1", "CZK", "Drinks//Tea"),
                ("B", "B", "1", "CZK", deep),
                ("C", "C", "1", "CZK", "/Tea"),
                ("D", "D", "1", "CZK", "x" * 101),
            ],
            header,
        )
    ) == [(2, "category"), (3, "category"), (4, "category"), (5, "category")]


def test_line_numbers_count_the_lines_of_the_file_blank_and_spanning_ones_included():
    content = (
        b"sku,name,unit_price,currency\n"
        b"A,Fine,1,CZK\n"
        b"\n"
        b'B,"Two\nlines",1,CZK\n'  # a name with a line break: lines 4 and 5
        b"C,Bad price,x,CZK\n"  # line 6
        b"\r\n"
        b"D,,1,CZK\n"  # line 8
    )
    assert errors_of(content) == [(4, "name"), (6, "unit_price"), (8, "name")]


def test_blank_xlsx_rows_keep_the_numbers_of_the_rows_below_them():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(MINIMAL))
    sheet.cell(row=5, column=1, value="A")
    sheet.cell(row=5, column=2, value="Late")
    sheet.cell(row=5, column=3, value="x")
    sheet.cell(row=5, column=4, value="CZK")
    out = io.BytesIO()
    workbook.save(out)
    assert errors_of(out.getvalue(), "xlsx") == [(5, "unit_price")]


def test_a_header_is_matched_in_any_case_and_order_and_a_bom_is_ignored():
    content = "\ufeffUnit Price;CURRENCY;Name;SKU\n2,50;czk;Tea;T-1\n".encode()
    (row,) = rows_of(content)
    assert (row.sku, row.name, row.unit_price_minor, row.asset_code) == ("T-1", "Tea", 250, "CZK")


def test_a_header_with_unknown_missing_or_repeated_columns_is_refused():
    content = csv_file([("A", "A", "1", "1")], ("sku", "name", "name", "price"))
    assert errors_of(content) == [(1, "name"), (1, "price"), (1, "unit_price"), (1, "currency")]
    assert errors_of(b"") == [(None, None)]
    assert errors_of(b"sku,name,unit_price,currency\n\n") == [(None, None)]


def test_a_cell_outside_every_column_is_refused():
    content = b"sku,name,unit_price,currency\nA,B,1,CZK,surprise\n"
    assert errors_of(content) == [(2, None)]


def test_a_sku_twice_in_a_file_is_refused_at_each_later_line():
    content = csv_file(
        [
            ("A", "First", "1", "CZK"),
            ("B", "Other", "1", "CZK"),
            ("A", "Again", "1", "CZK"),
            ("A", "Third", "x", "CZK"),
        ],
        MINIMAL,
    )
    parsed = parse_products(content, "csv", SCALES)
    assert [(e.line, e.field) for e in parsed.errors] == [(4, "sku"), (5, "unit_price"), (5, "sku")]
    assert parsed.errors[0].message == "SKU A is on line 2 too."


def test_text_that_is_not_utf_8_is_refused_at_its_line():
    content = "sku,name,unit_price,currency\nA,Café,1,CZK\n".encode("cp1250")
    parsed = parse_products(content, "csv", SCALES)
    assert [(e.line, e.field) for e in parsed.errors] == [(2, None)]
    assert "UTF-8" in parsed.errors[0].message


def test_a_file_that_is_no_workbook_is_refused_as_a_whole():
    for content in (b"sku,name\n", b"PK\x03\x04broken", _zip({"hello.txt": b"hi"})):
        assert errors_of(content, "xlsx") == [(None, None)]


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_it_is_read(monkeypatch):
    content = xlsx_file([("A", "A", 1, "CZK")], MINIMAL)
    monkeypatch.setattr(importing, "XLSX_UNPACKED_BYTES_MAX", 1_000)
    parsed = parse_products(content, "xlsx", SCALES)
    assert [(e.line, e.message) for e in parsed.errors] == [
        (None, "The workbook unpacks to more than an import may hold.")
    ]


def test_a_file_of_more_rows_than_an_import_may_hold_is_refused(monkeypatch):
    monkeypatch.setattr(importing, "IMPORT_ROWS_MAX", 3)
    rows = [(f"S-{i}", "P", "1", "CZK") for i in range(4)]
    assert errors_of(csv_file(rows, MINIMAL)) == [(5, None)]
    assert errors_of(xlsx_file(rows, MINIMAL), "xlsx") == [(5, None)]
    assert len(rows_of(csv_file(rows[:3], MINIMAL))) == 3
    # Blank lines are no rows, and do not cut the file short either.
    spaced = (
        b"sku,name,unit_price,currency\n"
        + b"\n" * 10
        + b"".join(f"S-{i},P,1,CZK\n\n".encode() for i in range(4))
    )
    assert errors_of(spaced) == [(18, None)]
    assert len(rows_of(spaced[: spaced.index(b"S-3")])) == 3


def test_at_most_the_reported_number_of_errors_is_shown():
    problems = [RowError(line, "sku", "bad") for line in range(2, 2_000)]
    shown = importing.reported(problems)
    assert len(shown) == importing.IMPORT_ERRORS_REPORTED_MAX
    assert shown[0] == {"line": 2, "field": "sku", "message": "bad"}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()

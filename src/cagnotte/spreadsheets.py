"""CSV and XLSX files of flat rows, safe to open in a spreadsheet.

A name typed by a merchant or a reseller (a program, a campaign, a reseller)
reaches these files as it was typed. A spreadsheet reads a cell that begins
with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
formula, so a name like `=HYPERLINK("http://…","Click")` would run on the
reader's machine (CSV injection). Every exporter writes through `csv_file` or
`xlsx_file`, which pass each text cell through `safe_cell`: such a text gets a
leading single quote, the OWASP rule, and an XLSX workbook also stores every
text as a string cell, so that no reader infers a formula. Numbers (amounts in
minor units, counts) and dates stay numbers and dates: a negative amount is a
number, not a text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# What makes a spreadsheet read a text cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The longest sheet title a workbook accepts.
SHEET_TITLE_LENGTH_MAX = 31

Cell = str | int | date | datetime | None


def safe_cell(value: Cell) -> Cell:
    """The value as a cell no spreadsheet reads as a formula: texts that would be are
    quoted with a leading `'`; numbers, dates and empty cells are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_file(
    columns: Sequence[str], rows: Iterable[Sequence[Cell]], *, lineterminator: str = "\r\n"
) -> bytes:
    """A header line and the rows, as CSV in UTF-8, every text cell made safe."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=lineterminator)
    writer.writerow([safe_cell(column) for column in columns])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return text.getvalue().encode()


def xlsx_file(sheet_title: str, columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A workbook of one sheet: a header line and the rows, texts stored as strings."""
    # Imported here: only an XLSX file needs openpyxl's workbook.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title[:SHEET_TITLE_LENGTH_MAX])

    def cell(value: Cell) -> WriteOnlyCell | Cell:
        if not isinstance(value, str):
            return value
        # Control characters that XLSX cannot hold would make openpyxl refuse the
        # whole file; they are dropped from the text instead.
        string = WriteOnlyCell(sheet, value=safe_cell(ILLEGAL_CHARACTERS_RE.sub("", value)))
        string.data_type = "s"
        return string

    sheet.append([cell(column) for column in columns])
    for row in rows:
        sheet.append([cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

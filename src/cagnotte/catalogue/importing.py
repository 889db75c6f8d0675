"""Reading a product file (CSV or XLSX) into rows to import, or into its errors.

Pure: no database. The caller passes the currencies a price may be in (with
their scales); the answer is either every row, valid, or every error found,
each with its line number (the spreadsheet's row number; line 1 is the header),
its column and what is wrong.

The columns, in any order, named in any case:

- sku, name, unit_price, currency: required in every row;
- category: a path from the top of the tree, "Drinks/Hot drinks" (missing
  categories are made);
- tax_free, members_only, active: true/false, yes/no, y/n or 1/0.

An empty cell of an optional column leaves that value of an existing product
as it is (a new product takes no category, not tax-free, public, active).

A unit price is a decimal in the currency's major units, read exactly (never
through a float): "2.5", "2.50" and "2.500" are all 250 minor units of a
currency of scale 2; "2.505" is refused, not rounded. The decimal mark is a
point, or a comma in a file separated by semicolons (as a spreadsheet set to
Czech or French writes CSV): each file has one mark, so "1.250" cannot be read
as 1.25 by one merchant and 1250 by another. Thousands separators are refused
whatever they are ("1 234,50", "1,234.50", "1'234.50"): write 1234.50. A
numeric XLSX cell is read as the shortest decimal that is the same double (what
the spreadsheet shows), so 2.675 stays 2.675 and is refused for a currency of
scale 2.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from cagnotte.catalogue import fields

IMPORT_BYTES_MAX = 5 * 1024 * 1024
IMPORT_ROWS_MAX = 10_000
# An XLSX file is a zip: what it unpacks to is bounded too (its sheets are XML).
XLSX_UNPACKED_BYTES_MAX = 50 * 1024 * 1024
# A longer list of errors is cut; error_count still says how many there were.
IMPORT_ERRORS_REPORTED_MAX = 1_000
IMPORT_COLUMNS_MAX = 50
FORMATS = ("csv", "xlsx")

REQUIRED_COLUMNS = ("sku", "name", "unit_price", "currency")
OPTIONAL_COLUMNS = ("category", "tax_free", "members_only", "active")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
# Digits, and decimals after the file's one decimal mark.
_PLAIN_DECIMAL = {".": re.compile(r"[0-9]+(?:\.[0-9]+)?"), ",": re.compile(r"[0-9]+(?:,[0-9]+)?")}


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One valid row: a product to create, or the new values of an existing SKU.

    None, for an optional value, means that its cell was empty.
    """

    line: int
    sku: str
    name: str
    unit_price_minor: int
    asset_code: str
    category_path: tuple[str, ...] | None
    tax_free: bool | None
    members_only: bool | None
    active: bool | None


@dataclass(frozen=True, slots=True)
class RowError:
    """What is wrong at one line of the file (None: the file as a whole) and column."""

    line: int | None
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """Every row valid (errors empty), or the errors (rows empty)."""

    rows: tuple[ImportRow, ...]
    errors: tuple[RowError, ...]

    def __post_init__(self) -> None:
        assert not (self.rows and self.errors)


def parse_products(
    content: bytes, file_format: str, currency_scales: Mapping[str, int]
) -> ParsedFile:
    """The rows of a product file, or everything wrong with it."""
    assert file_format in FORMATS, file_format
    assert len(content) <= IMPORT_BYTES_MAX, "the caller refuses a larger file"
    read = _csv_records(content) if file_format == "csv" else _xlsx_records(content)
    if isinstance(read, RowError):
        return ParsedFile((), (read,))
    records, decimal_mark = read
    return _rows_of(records, decimal_mark, currency_scales)


# Files into records: (line number, cell values) --------------------------------------


Record = tuple[int, Sequence[Any]]


def _csv_records(content: bytes) -> tuple[list[Record], str] | RowError:
    """The records and the decimal mark of a CSV file (UTF-8, separated by , or ;)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        return RowError(line, None, "The file is not UTF-8 text: save it as 'CSV UTF-8'.")
    header = text.split("\n", 1)[0]
    delimiter = ";" if ";" in header and "," not in header else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines = [1]

    def numbered() -> Iterator[Record]:
        for cells in reader:
            yield lines[-1], cells
            # The next record starts on the line after this one's last (a quoted
            # cell may span lines).
            lines.append(reader.line_num + 1)

    try:
        records = _enough(numbered())
    except csv.Error as error:
        return RowError(lines[-1], None, f"The file is not valid CSV here: {error}.")
    return records, "," if delimiter == ";" else "."


def _xlsx_records(content: bytes) -> tuple[list[Record], str] | RowError:
    """The records of the workbook's first sheet, by row number."""
    unreadable = RowError(None, None, "The file is not an XLSX workbook that can be read.")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return unreadable
    # Checked before openpyxl unpacks anything (zipfile reads no more of a member
    # than the size it declares).
    if unpacked > XLSX_UNPACKED_BYTES_MAX:
        return RowError(None, None, "The workbook unpacks to more than an import may hold.")
    try:
        return _sheet_records(content), "."
    # A damaged workbook makes openpyxl fail in many ways (KeyError, ValueError,
    # XML parse errors …): to the merchant each means the same.
    except Exception:
        return unreadable


def _sheet_records(content: bytes) -> list[Record]:
    # Imported here: only an XLSX import needs openpyxl.
    from openpyxl import load_workbook

    # openpyxl warns of spreadsheet features it drops (data validation, some
    # styles); values are all an import reads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            rows = workbook.worksheets[0].iter_rows(min_row=1, values_only=True)
            return _enough(enumerate(rows, start=1))
        finally:
            workbook.close()


def _enough(records: Iterable[Record]) -> list[Record]:
    """The records that are not blank, up to one more than a header and the most rows.

    Reading stops there: one row more than may be imported is enough to refuse the file.
    """
    kept: list[Record] = []
    for line, cells in records:
        if not _blank(cells):
            kept.append((line, cells))
            if len(kept) > 1 + IMPORT_ROWS_MAX:
                break
    return kept


# Records into rows ------------------------------------------------------------------


def _rows_of(
    records: list[Record], decimal_mark: str, currency_scales: Mapping[str, int]
) -> ParsedFile:
    if not records:
        return ParsedFile((), (RowError(None, None, "The file is empty: it has no header."),))
    (header_line, header), data = records[0], records[1:]
    columns, problems = _columns(header_line, header)
    if not problems and not data:
        problems.append(RowError(None, None, "The file has a header but no products."))
    if len(data) > IMPORT_ROWS_MAX:
        problems.append(
            RowError(
                data[IMPORT_ROWS_MAX][0],
                None,
                f"An import has at most {IMPORT_ROWS_MAX} products: split the file.",
            )
        )
    if problems:
        return ParsedFile((), tuple(problems))
    rows: list[ImportRow] = []
    first_line_of_sku: dict[str, int] = {}
    for line, cells in data:
        row, row_problems = _row(line, _Cells(columns, cells), decimal_mark, currency_scales)
        sku = row.sku if row is not None else _sku_or_none(_Cells(columns, cells))
        first = first_line_of_sku.setdefault(sku, line) if sku else line
        if first != line:
            row_problems.append(RowError(line, "sku", f"SKU {sku} is on line {first} too."))
        if row is not None and not row_problems:
            rows.append(row)
        problems.extend(row_problems)
    if problems:
        return ParsedFile((), tuple(problems))
    return ParsedFile(tuple(rows), ())


def _columns(line: int, header: Sequence[Any]) -> tuple[dict[str, int], list[RowError]]:
    """Each column's position in the header, and what is wrong with the header."""
    if len(header) > IMPORT_COLUMNS_MAX and not _blank(header[IMPORT_COLUMNS_MAX:]):
        return {}, [RowError(line, None, f"A file has at most {IMPORT_COLUMNS_MAX} columns.")]
    columns: dict[str, int] = {}
    problems: list[RowError] = []
    for position, cell in enumerate(header[:IMPORT_COLUMNS_MAX]):
        title = _header_title(cell)
        if not title:
            continue
        if title not in COLUMNS:
            problems.append(
                RowError(line, title[:50], f"Unknown column; the columns are {', '.join(COLUMNS)}.")
            )
        elif title in columns:
            problems.append(RowError(line, title, "This column is in the header twice."))
        else:
            columns[title] = position
    for title in REQUIRED_COLUMNS:
        if title not in columns:
            problems.append(RowError(line, title, "The header lacks this column."))
    return columns, problems


def _header_title(cell: Any) -> str:
    try:
        text = _text(cell)
    except CellProblem:
        return "(a date)"
    return text.casefold().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True, slots=True)
class _Cells:
    """One record's cells, by column."""

    columns: Mapping[str, int]
    values: Sequence[Any]

    def __getitem__(self, column: str) -> Any:
        position = self.columns.get(column)
        if position is None or position >= len(self.values):
            return None
        return self.values[position]

    def outside_columns(self) -> bool:
        """Whether a cell outside every column holds something."""
        known = set(self.columns.values())
        return not _blank([v for i, v in enumerate(self.values) if i not in known])


def _row(
    line: int, cells: _Cells, decimal_mark: str, currency_scales: Mapping[str, int]
) -> tuple[ImportRow | None, list[RowError]]:
    """The row, or None and its errors (one per bad cell)."""
    problems: list[RowError] = []

    def read(column: str, reader: Any, *arguments: Any) -> Any:
        try:
            return reader(cells[column], *arguments)
        except CellProblem as problem:
            problems.append(RowError(line, column, str(problem)))
            return None

    if cells.outside_columns():
        problems.append(RowError(line, None, "This row has cells under no column."))
    sku = read("sku", _required_text, fields.sku_problem)
    name = read("name", _required_text, fields.product_name_problem)
    asset_code = read("currency", _currency, currency_scales)
    unit_price_minor = read(
        "unit_price", _price, decimal_mark, currency_scales.get(asset_code or "", 0), asset_code
    )
    category_path = read("category", _category_path)
    flags = {flag: read(flag, _flag) for flag in ("tax_free", "members_only", "active")}
    if problems:
        return None, problems
    return ImportRow(
        line=line,
        sku=sku,
        name=name,
        unit_price_minor=unit_price_minor,
        asset_code=asset_code,
        category_path=category_path,
        **flags,
    ), problems


def _sku_or_none(cells: _Cells) -> str | None:
    try:
        sku = _text(cells["sku"])
    except CellProblem:
        return None
    return sku if fields.sku_problem(sku) is None else None


# Cells ------------------------------------------------------------------------------


class CellProblem(ValueError):
    """What is wrong with one cell, in words for the merchant."""


def _blank(cells: Sequence[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _text(value: Any) -> str:
    """A cell as text: an XLSX number as it shows (12345, not 12345.0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        raise CellProblem("This cell is a date; write it as text.")
    return fields.clean(str(value))


def _required_text(value: Any, problem_of: Any) -> str:
    text = _text(value)
    problem = problem_of(text)
    if problem is not None:
        raise CellProblem(problem[0].upper() + problem[1:] + ".")
    return text


def _currency(value: Any, currency_scales: Mapping[str, int]) -> str:
    code = _text(value).upper()
    if not code:
        raise CellProblem("A currency is required.")
    if code not in currency_scales:
        raise CellProblem(f"{code[:24]} is not a currency a price may be in.")
    return code


def _price(value: Any, decimal_mark: str, scale: int, asset_code: str | None) -> int | None:
    """The price in minor units, exactly; CellProblem unless it is a plain decimal.

    Without a valid currency only the number is checked (its scale is unknown).
    """
    amount = _amount(value, decimal_mark)
    if amount < 0:
        raise CellProblem("A unit price cannot be negative.")
    if asset_code is None:
        return None
    minor = amount.scaleb(scale)
    if minor != minor.to_integral_value():
        raise CellProblem(f"{asset_code} has {scale} decimals; {amount} has more.")
    if minor > fields.UNIT_PRICE_MINOR_MAX:
        highest = Decimal(fields.UNIT_PRICE_MINOR_MAX).scaleb(-scale)
        raise CellProblem(f"A unit price is at most {highest} {asset_code}.")
    return int(minor)


def _amount(value: Any, decimal_mark: str) -> Decimal:
    if isinstance(value, bool | datetime | date | time):
        raise CellProblem("A unit price is a number, e.g. 2.50.")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem("A unit price is a number, e.g. 2.50.")
        # repr is the shortest decimal that reads back as the same double.
        return Decimal(repr(value))
    text = _text(value)
    if not text:
        raise CellProblem("A unit price is required.")
    number = text[1:] if text.startswith("-") else text
    if _PLAIN_DECIMAL[decimal_mark].fullmatch(number):
        return Decimal(text.replace(decimal_mark, "."))
    example = "1234.50" if decimal_mark == "." else "1234,50"
    raise CellProblem(
        f"{text[:30]} is not a plain price: write it like {example}, with a decimal "
        f"{'point' if decimal_mark == '.' else 'comma'} and no thousands separators."
    )


def _category_path(value: Any) -> tuple[str, ...] | None:
    text = _text(value)
    if not text:
        return None
    names = tuple(fields.clean(name) for name in text.split(fields.PATH_SEPARATOR))
    if len(names) > fields.CATEGORY_DEPTH_MAX:
        raise CellProblem(f"A category path has at most {fields.CATEGORY_DEPTH_MAX} names.")
    for name in names:
        problem = fields.category_name_problem(name)
        if problem is not None:
            raise CellProblem(f"In the path {text[:100]!r}: {problem}.")
    return names


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = _text(value).casefold()
    if not word:
        return None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise CellProblem("Write true or false (or yes/no, 1/0).")


def reported(problems: Sequence[RowError]) -> list[dict[str, Any]]:
    """The errors as an answer shows them: the first IMPORT_ERRORS_REPORTED_MAX."""
    return [
        {"line": p.line, "field": p.field, "message": p.message}
        for p in problems[:IMPORT_ERRORS_REPORTED_MAX]
    ]

"""The org file as a spreadsheet: an xlsx workbook with the sheets `departments` and
`employees`, or one CSV file whose `kind` column says which a row is.

A spreadsheet is read into the very document the YAML file is (same keys as its
columns), which services.org.org_document validates: one set of rules, with each problem
labelled by sheet, row and column instead of a line. List columns (`lanes`, `duties`,
`roles`) hold comma-separated names; an empty cell is a key left out. Notification
channels (`notify`, with their secrets) are set in the YAML file only: a department
without `notify` keeps the channels it has.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from typing import Any

import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

from services.errors import InvalidInput
from services.org.org_document import check_org, parse_org

COLUMNS = {
    "departments": ("key", "name", "parent", "head", "lanes", "duties", "remind_after",
                    "escalate_after"),
    "employees": ("username", "name", "department", "position", "manager", "roles",
                  "base_salary", "bonus_base", "email", "locale", "password"),
}
LISTS = frozenset({"lanes", "duties", "roles"})
# One CSV holds both kinds: `kind` first, then every column of either (name is shared).
KINDS = {"department": "departments", "employee": "employees"}
CSV_COLUMNS = ("kind", *dict.fromkeys(COLUMNS["departments"] + COLUMNS["employees"]))
FORMATS = ("yaml", "xlsx", "csv")
# Spreadsheet programs run a CSV cell that starts like a formula: the export puts a quote
# before it (as services.pay.exports does), which the import takes off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_BYTES = 2 * 1024 * 1024  # of an uploaded org file
MAX_ROWS = 20_000  # per sheet (or CSV file)
MEDIA_TYPES = {"yaml": "application/yaml; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "text/csv; charset=utf-8"}


def format_of(filename: str) -> str:
    """The format a file name's extension says: xlsx, csv, or (anything else) YAML."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return suffix if suffix in ("xlsx", "csv") else "yaml"


def read_org(data: bytes, filename: str) -> tuple[list[dict], list[dict]]:
    """Parse and validate an org file in any format (by its extension); raise InvalidInput
    listing every problem where it is."""
    if not filename or len(filename) > 255 or any(ord(c) < 32 for c in filename):
        raise InvalidInput("the file name must be 1 to 255 printable characters",
                           {"file": ["Rename the file and upload it again."]})
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{filename}: larger than {MAX_BYTES // (1024 * 1024)} MB",
                           {"file": [f"At most {MAX_BYTES} bytes."]})
    kind = format_of(filename)
    if kind == "yaml":
        return parse_org(_text(data, filename), filename)
    rows = _xlsx_rows(data, filename) if kind == "xlsx" else _csv_rows(data, filename)
    return _check_rows(rows, filename)


def render(document: dict[str, list[dict]], kind: str) -> bytes:
    """An org document (the YAML file's shape) as a file of format `kind`."""
    if kind == "yaml":
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode("utf-8")
    if kind == "xlsx":
        book = Workbook()
        book.remove(book.active)
        for section, columns in COLUMNS.items():
            sheet = book.create_sheet(section)
            sheet.append(columns)
            for entry in document.get(section, []):
                sheet.append([_cell(entry.get(column), column) for column in columns])
                for cell in sheet[sheet.max_row]:
                    if isinstance(cell.value, str):
                        cell.data_type = "s"  # text, never a formula, whatever it starts with
            for index, column in enumerate(columns, start=1):
                sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column) + 2)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row_kind, section in KINDS.items():
            for entry in document.get(section, []):
                writer.writerow([row_kind] + [_formula_safe(_cell(entry.get(column), column) or "")
                                              for column in CSV_COLUMNS[1:]])
        return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read it as UTF-8
    raise InvalidInput(f"unknown org file format {kind!r}: one of {', '.join(FORMATS)}",
                       {"format": [f"Must be one of {', '.join(FORMATS)}."]})


def template(kind: str) -> bytes:
    """An empty org file of format `kind`: the columns (keys), no rows."""
    return render({"departments": [], "employees": []}, kind)


def _cell(value: Any, column: str) -> Any:
    if value is None:
        return None
    if column in LISTS:
        return ", ".join(value) if value else None
    return str(value)


def _formula_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def _unquoted(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


class _Row:
    """A spreadsheet row read as an org entry, with where each of its keys came from."""

    def __init__(self, section: str, where: str, order: tuple, row: int):
        self.section, self.where, self.order, self.row = section, where, order, row
        self.entry: dict[str, Any] = {}
        self.columns: dict[str, tuple[int, str]] = {}  # key -> (index, label)
        self.header: dict[str, tuple[int, str]] = {}  # every column of its sheet


def _text(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInput(f"{filename}: not UTF-8 text (byte {err.start}); "
                           "save it as UTF-8", [f"{filename}: not UTF-8 text"]) from None


def _value(raw: Any, column: str) -> Any:
    """A cell as the YAML file would hold it; None for an empty cell (the key left out)."""
    if raw is None:
        return None
    if isinstance(raw, float):
        text = str(int(raw)) if raw.is_integer() else repr(raw)
    elif isinstance(raw, (dt.datetime, dt.date)):
        text = raw.isoformat()
    else:
        text = str(raw)
    text = text.strip()
    if not text:
        return None
    return [part.strip() for part in text.split(",")] if column in LISTS else text


def _xlsx_rows(data: bytes, filename: str) -> list[_Row]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise InvalidInput(f"{filename}: not an xlsx workbook ({err})",
                           [f"{filename}: not an xlsx workbook"]) from None
    try:
        unknown = [name for name in book.sheetnames if name not in COLUMNS]
        missing = [name for name in COLUMNS if name not in book.sheetnames]
        if unknown or missing:
            problems = [f"{filename}: sheet {name}: unknown sheet; the sheets are "
                        f"{', '.join(COLUMNS)}" for name in unknown]
            problems += [f"{filename}: sheet {name} is missing" for name in missing]
            raise InvalidInput(f"{filename}: {len(problems)} problem(s)\n" + "\n".join(problems),
                               problems)
        rows: list[_Row] = []
        problems = []
        for sheet_index, section in enumerate(COLUMNS):
            cells = book[section].iter_rows(values_only=True)
            header = next(cells, ())
            columns, found = _header(header, COLUMNS[section], f"{filename}: sheet {section}, row 1")
            problems += found
            for number, values in enumerate(cells, start=2):
                if number > MAX_ROWS + 1:
                    raise InvalidInput(f"{filename}: sheet {section} has more than {MAX_ROWS} rows")
                row = _Row(section, f"{filename}: sheet {section}, row {number}",
                           (sheet_index, number), number)
                _fill(row, values, columns)
                if row.columns:
                    rows.append(row)
    finally:
        book.close()
    if problems:
        raise InvalidInput(f"{filename}: {len(problems)} problem(s)\n" + "\n".join(problems), problems)
    return rows


def _csv_rows(data: bytes, filename: str) -> list[_Row]:
    try:
        lines = list(csv.reader(io.StringIO(_text(data, filename), newline="")))
    except csv.Error as err:
        raise InvalidInput(f"{filename}: not a CSV file ({err})", [f"{filename}: not CSV"]) from None
    header = lines[0] if lines else []
    columns, problems = _header(header, CSV_COLUMNS, f"{filename}: row 1")
    kind_at = next((index for index, (name, _) in columns.items() if name == "kind"), None)
    if kind_at is None and not problems:
        problems.append(f"{filename}: row 1: the column kind is missing "
                        f"(department or employee on each row)")
    if problems:
        raise InvalidInput(f"{filename}: {len(problems)} problem(s)\n" + "\n".join(problems), problems)
    if len(lines) > MAX_ROWS + 1:
        raise InvalidInput(f"{filename}: more than {MAX_ROWS} rows")
    rows = []
    for number, values in enumerate(lines[1:], start=2):
        kind = values[kind_at].strip() if kind_at < len(values) else ""
        if not any(value.strip() for value in values):
            continue
        if kind not in KINDS:
            problems.append(f"{filename}: row {number}, column {get_column_letter(kind_at + 1)} "
                            f"(kind): must be department or employee")
            continue
        row = _Row(KINDS[kind], f"{filename}: row {number} ({kind})", (0, number), number)
        _fill(row, [_unquoted(value) for value in values],
              {index: column for index, column in columns.items() if index != kind_at})
        rows.append(row)
    if problems:
        raise InvalidInput(f"{filename}: {len(problems)} problem(s)\n" + "\n".join(problems), problems)
    return rows


def _header(header: Iterable[Any], known: tuple[str, ...], where: str
            ) -> tuple[dict[int, tuple[str, str]], list[str]]:
    """{index: (column name, label)} of a header row, and its problems (an unknown or
    repeated column)."""
    columns: dict[int, tuple[str, str]] = {}
    problems, seen = [], set()
    for index, raw in enumerate(header):
        name = str(raw).strip() if raw is not None else ""
        if not name:
            continue
        label = f"column {get_column_letter(index + 1)} ({name})"
        if name not in known:
            problems.append(f"{where}, {label}: unknown column; the columns are {', '.join(known)}")
        elif name in seen:
            problems.append(f"{where}, {label}: repeated column")
        else:
            seen.add(name)
            columns[index] = (name, label)
    return columns, problems


def _fill(row: _Row, values: Iterable[Any], columns: dict[int, tuple[str, str]]) -> None:
    row.header = {name: (index, label) for index, (name, label) in columns.items()}
    for index, raw in enumerate(values):
        if index not in columns:
            continue
        name, label = columns[index]
        value = _value(raw, name)
        if value is not None:
            row.entry[name] = value
            row.columns[name] = (index, label)


def _check_rows(rows: list[_Row], filename: str) -> tuple[list[dict], list[dict]]:
    """Validate the rows as the org document they make, naming each problem's cell."""
    by_section: dict[str, list[_Row]] = {section: [] for section in COLUMNS}
    for row in rows:
        by_section[row.section].append(row)
    document = {section: [row.entry for row in entries] for section, entries in by_section.items()}

    def locate(path: str) -> tuple[tuple, str]:
        section, _, rest = path.partition("[")
        index_text, _, key = rest.partition("]")
        entries = by_section.get(section, [])
        if not index_text.isdigit() or int(index_text) >= len(entries):
            return (-1,), filename
        row = entries[int(index_text)]
        key = key.lstrip(".").split(".")[0]
        if key in row.header:  # the cell, or the required one left empty
            column, label = row.header[key]
            return (*row.order, column), f"{row.where}, {label}"
        if key:  # a required column the sheet lacks
            return (*row.order, -1), f"{row.where}, column {key} (missing)"
        return (*row.order, -1), row.where

    return check_org(document, filename, locate)

"""Payroll exports: CSV safe against formula injection, and XLSX."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy import select

from services.pay.payroll_runs import lines
from services.persistence.models import Employee, PayrollRun
from services.persistence.unit_of_work import UnitOfWork

COLUMNS = ("username", "name", "department", "base_salary", "kpi_score", "bonus", "adjustments",
           "gross")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _rows(uow: UnitOfWork, run: PayrollRun) -> list[list]:
    names = dict(uow.session.execute(select(Employee.username, Employee.name)).all())
    return [[line.username, names.get(line.username, ""), line.department_key, line.base_salary,
             line.kpi_score, line.bonus, line.adjustments, line.gross] for line in lines(uow, run)]


def safe_text(value: str) -> str:
    """Spreadsheets run cells that start like a formula; a leading quote keeps them text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(uow: UnitOfWork, run: PayrollRun) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in _rows(uow, run):
        writer.writerow([str(value) if isinstance(value, Decimal) else safe_text(value)
                         for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens 中文 correctly


def to_xlsx(uow: UnitOfWork, run: PayrollRun) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"Payroll {run.period}"
    sheet.append(list(COLUMNS))
    for row in _rows(uow, run):
        sheet.append([value if isinstance(value, Decimal) else safe_text(value) for value in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text
            else:
                cell.number_format = "0.0000" if cell.column == 5 else "#,##0.00"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

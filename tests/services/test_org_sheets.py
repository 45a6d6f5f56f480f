"""The org as a spreadsheet: xlsx and CSV read into the YAML file's document, validated by the
same rules with each problem at its sheet, row and column; exports that import unchanged."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from services.errors import InvalidInput
from services.org import org_file, org_sheets
from services.persistence.models import AuditEntry, Department, Employee, OrgChange, OrgRevision
from tests.conftest import BPMN_DIR
from tests.services.helpers import import_demo_org

QA_NOTIFY = {"webhook": "https://hooks.example.com/qa?token=t0ken", "secret": "s3cret-质量",
             "locale": "zh-CN"}


def workbook(departments: list[list], employees: list[list]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in (("departments", departments), ("employees", employees)):
        sheet = book.create_sheet(name)
        sheet.append(org_sheets.COLUMNS[name])
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def department(uow, key: str) -> Department:
    return uow.session.scalars(select(Department).where(Department.key == key)).one()


def counts(store) -> dict[str, object]:
    with store.reading() as uow:
        return {"changes": uow.session.scalar(select(func.count()).select_from(OrgChange)),
                "audit": uow.session.scalar(select(func.count()).select_from(AuditEntry)),
                "revision": uow.session.scalar(select(OrgRevision.token))}


def apply(store, data: bytes, filename: str):
    departments, employees = org_sheets.read_org(data, filename)
    with store.writing() as uow:
        return org_file.apply_org(uow, departments, employees, filename, "cli:tester")


def test_an_xlsx_org_imports_like_the_yaml_one(store):
    data = workbook(
        [["production", "生产部", None, None, "Production"],
         ["qa", "质量部", "production", "wang.qa", "QA, Quality", "Inspection", "PT4H"]],
        [["wang.qa", "王芳", "qa", "Head", None, "manager, staff", "12000.00", 3000, None, None, "pw"],
         ["li.qa", "李娜", "qa", "Inspector", "wang.qa", "staff", 8000.5, "2000.00", "li@example.com",
          "zh-CN"]])
    report = apply(store, data, "org.xlsx")
    assert report.created == 4
    with store.reading() as uow:
        qa = department(uow, "qa")
        assert (qa.name, qa.lanes, qa.duties, qa.remind_after) == ("质量部", ["QA", "Quality"],
                                                                   ["Inspection"], "PT4H")
        li = uow.session.scalars(select(Employee).where(Employee.username == "li.qa")).one()
        assert (str(li.base_salary), str(li.bonus_base), li.manager_username, li.locale) == \
            ("8000.50", "2000.00", "wang.qa", "zh-CN")
        wang = uow.session.scalars(select(Employee).where(Employee.username == "wang.qa")).one()
        assert wang.roles == ["manager", "staff"]


def test_spreadsheet_problems_name_sheet_row_and_column(store):
    data = workbook(
        [["qa", "质量部", "nowhere"]],
        [["li.qa", "李娜", "qa", None, None, "staff", "8000.001", "2000.00"],
         ["he.qa", None, "qa", None, None, "staff, boss", "8000.00", None]])
    with pytest.raises(InvalidInput) as err:
        org_sheets.read_org(data, "org.xlsx")
    assert err.value.errors == [
        "org.xlsx: sheet departments, row 2, column C (parent): 'nowhere' is not a department key",
        "org.xlsx: sheet employees, row 2, column G (base_salary): required: a non-negative "
        "amount with at most 2 decimals, quoted, e.g. \"8000.00\"",
        "org.xlsx: sheet employees, row 3, column B (name): required",
        "org.xlsx: sheet employees, row 3, column F (roles): must be a non-empty list of "
        "staff, manager, designer, hr, admin, integration",
        "org.xlsx: sheet employees, row 3, column H (bonus_base): required: a non-negative "
        "amount with at most 2 decimals, quoted, e.g. \"8000.00\""]
    with store.reading() as uow:  # nothing imported
        assert uow.session.scalar(select(func.count()).select_from(Department)) == 0


def test_unknown_sheets_and_columns_are_refused_where_they_are():
    book = load_workbook(io.BytesIO(workbook([], [])))
    book["employees"].cell(row=1, column=12, value="salary")
    book.create_sheet("notes")
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(InvalidInput) as err:
        org_sheets.read_org(out.getvalue(), "org.xlsx")
    assert err.value.errors == ["org.xlsx: sheet notes: unknown sheet; the sheets are departments, employees"]
    del book["notes"]
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(InvalidInput) as err:
        org_sheets.read_org(out.getvalue(), "org.xlsx")
    assert err.value.errors[0].startswith("org.xlsx: sheet employees, row 1, column L (salary): "
                                          "unknown column")
    with pytest.raises(InvalidInput, match="not an xlsx workbook"):
        org_sheets.read_org(b"departments: []", "org.xlsx")


def test_a_csv_names_row_kind_and_column(store):
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(org_sheets.CSV_COLUMNS)
    columns = org_sheets.CSV_COLUMNS

    def row(**values):
        return [values.get(column, "") for column in columns]
    writer.writerow(row(kind="department", key="qa", name="质量部", lanes="QA"))
    writer.writerow(row(kind="employee", username="li.qa", name="李娜", department="qa",
                        base_salary="8000.00", bonus_base="2000.00", lanes="QA"))
    writer.writerow(row(kind="person", username="x"))
    with pytest.raises(InvalidInput) as err:
        org_sheets.read_org(text.getvalue().encode("utf-8-sig"), "org.csv")
    assert err.value.errors == ["org.csv: row 4, column A (kind): must be department or employee"]
    lines = text.getvalue().splitlines()
    with pytest.raises(InvalidInput) as err:
        org_sheets.read_org("\n".join(lines[:3]).encode("utf-8"), "org.csv")
    lanes_column = "ABCDEFGHIJKLMNOPQRSTU"[columns.index("lanes")]
    assert err.value.errors == [f"org.csv: row 3 (employee), column {lanes_column} (lanes): unknown key"]
    fixed = "\n".join(lines[:2] + [lines[2].replace(",QA", ",")])
    assert apply(store, fixed.encode("utf-8"), "org.csv").created == 2


@pytest.mark.parametrize("kind", ["xlsx", "csv", "yaml"])
def test_export_then_import_changes_nothing(store, kind):
    yaml_text = (BPMN_DIR / "demo_org.yaml").read_text("utf-8")
    import_demo_org(store)
    # Channels and passwords are not exported; a file without them keeps them.
    with store.writing() as uow:
        department(uow, "qa").notify = QA_NOTIFY
        if uow.session.get(OrgRevision, 1) is None:  # the PostgreSQL fixture truncates it
            uow.session.add(OrgRevision(id=1, token="before-the-round-trip"))
        uow.commit()
    before = counts(store)
    with store.reading() as uow:
        document = org_file.export_document(uow)
    data = org_sheets.render(document, kind)
    assert b"t0ken" not in data and b"s3cret" not in data
    if kind == "xlsx":
        names = [row[1] for row in load_workbook(io.BytesIO(data))["departments"].iter_rows(
            min_row=2, values_only=True)]
        assert "质量部" in names
    else:
        assert "质量部".encode("utf-8") in data
    report = apply(store, data, f"org.{kind}")
    assert (report.created, report.updated, report.deactivated, report.changes) == (0, 0, 0, [])
    assert counts(store) == before  # no change recorded, no audit entry, no new org revision
    assert before["revision"] is not None
    with store.reading() as uow:
        assert department(uow, "qa").notify == QA_NOTIFY
        assert org_file.export_document(uow) == document
    assert len(document["employees"]) == yaml_text.count("username:")
    document["departments"][0]["name"] += " (new)"  # a real change: a new revision
    assert apply(store, org_sheets.render(document, kind), f"org.{kind}").updated == 1
    assert counts(store)["revision"] != before["revision"]


def test_the_template_has_the_columns_and_imports_as_an_empty_org(store):
    book = load_workbook(io.BytesIO(org_sheets.template("xlsx")))
    assert book.sheetnames == ["departments", "employees"]
    assert [cell.value for cell in book["employees"][1]] == list(org_sheets.COLUMNS["employees"])
    header = org_sheets.template("csv").decode("utf-8-sig").splitlines()
    assert header == [",".join(org_sheets.CSV_COLUMNS)]
    assert org_sheets.read_org(org_sheets.template("xlsx"), "t.xlsx") == ([], [])


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_text_that_looks_like_a_formula_stays_text_and_round_trips(store, kind):
    import_demo_org(store)
    with store.writing() as uow:
        uow.session.scalars(select(Employee).where(Employee.username == "li.qa")).one().position = \
            "=HYPERLINK(\"http://evil\")"
        uow.commit()
    with store.reading() as uow:
        document = org_file.export_document(uow)
    data = org_sheets.render(document, kind)
    if kind == "xlsx":
        cell = next(row[3] for row in load_workbook(io.BytesIO(data))["employees"].iter_rows(min_row=2)
                    if row[0].value == "li.qa")
        assert cell.data_type == "s"
    else:
        assert "'=HYPERLINK" in data.decode("utf-8-sig")
    assert apply(store, data, f"org.{kind}").changes == []

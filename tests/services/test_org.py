"""Org import: the fixed YAML format, validation with lines, updates recorded on re-import."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.errors import InvalidInput, PermissionDenied
from services.identity import audit
from services.identity.actor import Actor
from services.identity.passwords import verify_password
from services.org import org_file
from services.org.directory import Directory
from services.org.org_document import parse_org
from services.persistence.models import Department, Employee, OrgChange

SMALL = """
departments:
  - {key: production, name: 生产部, lanes: [Production]}
  - {key: qa, name: 质量部, parent: production, head: wang.qa, lanes: [QA, Quality], duties: [Inspection]}
employees:
  - {username: wang.qa, name: 王芳, department: qa, roles: [manager, staff],
     base_salary: "12000.00", bonus_base: "3000.00", password: "secret"}
  - {username: li.qa, name: 李娜, department: qa, position: Inspector, manager: wang.qa,
     roles: [staff], base_salary: "8000.00", bonus_base: "2000.00"}
"""


def run_import(store, text):
    with store.writing() as uow:
        report = org_file.import_org(uow, text, "org.yaml", "cli:tester")
    return report


def test_import_and_routing(store):
    report = run_import(store, SMALL)
    assert report.created == 4
    with store.reading() as uow:
        directory = Directory.load(uow)
        assert directory.department_for("质量部").key == "qa"
        assert directory.department_for("Quality").key == "qa"
        assert directory.department_for("qa").key == "qa"
        assert directory.department_for("Nobody") is None
        li = uow.session.scalars(select(Employee).where(Employee.username == "li.qa")).one()
        assert str(li.base_salary) == "8000.00"
        wang = uow.session.scalars(select(Employee).where(Employee.username == "wang.qa")).one()
        assert wang.password_hash and "secret" not in wang.password_hash
        assert verify_password(wang.password_hash, "secret")


def test_reimport_updates_in_place_and_records_changes(store):
    run_import(store, SMALL)
    changed = SMALL.replace('"8000.00"', '"8500.00"').replace("Inspector", "Senior Inspector")
    changed = changed.replace("""  - {username: wang.qa""", """  - {username: wang.qa""")
    report = run_import(store, changed)
    assert (report.created, report.updated, report.deactivated) == (0, 1, 0)
    with store.reading() as uow:
        change = uow.session.scalars(select(OrgChange).where(
            OrgChange.import_id == report.import_id)).one()
        assert change.entity_key == "li.qa" and change.action == "updated"
        assert change.before == {"base_salary": "8000.00", "position": "Inspector"}
        assert change.after == {"base_salary": "8500.00", "position": "Senior Inspector"}
        assert change.changed_at is not None
    assert run_import(store, changed).changes == []  # identical file: nothing recorded


def test_pay_changes_and_imports_are_in_the_audit_trail(store):
    first = run_import(store, SMALL)
    report = run_import(store, SMALL.replace('"8000.00"', '"8500.00"'))
    run_import(store, SMALL.replace('"8000.00"', '"8500.00"'))  # unchanged: no entries
    with store.reading() as uow:
        hr = Actor("zhao.hr", "hr", frozenset({"hr"}), frozenset())
        li = audit.trail(uow, hr, "salary", "li.qa")
        imports = audit.trail(uow, hr, "org_import")
    assert [(e["actor"], e["old"], e["new"]) for e in li] == [
        ("cli:tester", {"base_salary": "8000.00", "bonus_base": "2000.00"},
         {"base_salary": "8500.00", "bonus_base": "2000.00"}),
        ("cli:tester", None, {"base_salary": "8000.00", "bonus_base": "2000.00"})]
    assert [(e["key"], e["new"]["updated"]) for e in imports] == [(report.import_id, 1),
                                                                  (first.import_id, 0)]
    with pytest.raises(PermissionDenied), store.reading() as uow:
        audit.trail(uow, Actor("li.qa", "qa", frozenset({"staff"}), frozenset()))


def test_people_missing_from_a_new_file_are_deactivated(store):
    run_import(store, SMALL)
    without_li = SMALL.split("  - {username: li.qa")[0]
    report = run_import(store, without_li)
    assert report.deactivated == 1
    with store.reading() as uow:
        li = uow.session.scalars(select(Employee).where(Employee.username == "li.qa")).one()
        assert not li.active


@pytest.mark.parametrize("broken,expected", [
    (SMALL.replace("department: qa, position", "department: nowhere, position"),
     "employees[1].department: 'nowhere' is not a department key"),
    (SMALL.replace('"8000.00"', "8000.5"), "employees[1].base_salary"),
    (SMALL.replace('"8000.00"', '"8000.001"'), "employees[1].base_salary"),
    (SMALL.replace("roles: [staff]", "roles: [king]"), "employees[1].roles"),
    (SMALL.replace("parent: production", "parent: ghosts"), "departments[1].parent"),
    (SMALL.replace("lanes: [QA, Quality]", "lanes: [Production]"), "would route to both"),
    (SMALL.replace("manager: wang.qa", "manager: nobody"), "employees[1].manager"),
    ("departments: [", "invalid YAML"),
])
def test_invalid_files_are_refused_whole_with_located_messages(store, broken, expected):
    with pytest.raises(InvalidInput) as caught:
        run_import(store, broken)
    assert expected in str(caught.value)
    assert "org.yaml:" in str(caught.value)
    with store.reading() as uow:
        assert uow.session.scalars(select(Department)).all() == []


@pytest.mark.parametrize("broken,marker,problem", [
    (SMALL.replace('bonus_base: "2000.00"}', 'bonus_base: "2000.00", colour: red}'), "colour",
     "employees[1].colour: unknown key"),
    (SMALL.replace("duties: [Inspection]", "duties: Inspection"), "duties",
     "departments[1].duties: must be a list of non-empty strings"),
    (SMALL.replace(', bonus_base: "2000.00"', ""), "li.qa",
     'employees[1].bonus_base: required: a non-negative amount with at most 2 decimals, quoted, '
     'e.g. "8000.00"'),
])
def test_unknown_wrong_and_missing_fields_report_their_line(broken, marker, problem):
    with pytest.raises(InvalidInput) as caught:
        parse_org(broken, "org.yaml")
    line = next(number for number, text in enumerate(broken.splitlines(), 1) if marker in text)
    assert caught.value.errors == [f"org.yaml:{line}: {problem}"]


def test_error_lines_point_into_the_file(store):
    broken = SMALL.replace("department: qa, position", "department: nowhere, position")
    with pytest.raises(InvalidInput) as caught:
        run_import(store, broken)
    line = next(number for number, text in enumerate(broken.splitlines(), 1) if "li.qa" in text)
    assert f"org.yaml:{line}: employees[1].department" in str(caught.value)


def test_problems_are_listed_in_file_order_whatever_rule_found_them():
    # A whole-file rule (an unknown department) above a schema rule (a bad salary).
    broken = (SMALL.replace("department: qa, position", "department: nowhere, position")
              .replace('"8000.00"', "8000.5"))
    with pytest.raises(InvalidInput) as caught:
        parse_org(broken, "org.yaml")
    lines = [int(problem.split(":")[1]) for problem in caught.value.errors]
    assert len(lines) >= 2 and lines == sorted(lines)

"""The organisation: departments own duties, employees belong to departments.

Loaded from the fixed YAML format with `dutyflow org import FILE`. Re-importing
updates in place and records each change (what/before/after, by import) in org_changes,
and in the audit trail who ran each import and every change to someone's pay;
departments and employees missing from a new file are deactivated, not deleted, so
past events keep pointing at real records.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from sqlalchemy import select, update

from payroll.money import CENT, money
from services.errors import InvalidInput
from services.identity import audit
from services.identity.credentials import revoke_credentials
from services.identity.passwords import hash_password, verify_password
from services.persistence.models import Department, Employee, OrgChange, OrgRevision, utcnow
from services.persistence.unit_of_work import UnitOfWork

ROLES = ("staff", "manager", "designer", "hr", "admin")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DEPARTMENT_KEYS = {"key", "name", "parent", "head", "lanes", "duties"}
_EMPLOYEE_KEYS = {"username", "name", "department", "position", "manager", "roles",
                  "base_salary", "bonus_base", "password"}


@dataclass
class ImportReport:
    import_id: str
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    changes: list[str] = field(default_factory=list)


def import_org(uow: UnitOfWork, text: str, filename: str, by: str) -> ImportReport:
    """Validate the whole file first; then apply it, `by` whom, and commit."""
    departments, employees = parse_org(text, filename)
    report = ImportReport(import_id=str(uuid.uuid4()))
    session = uow.session
    existing_departments = {d.key: d for d in session.scalars(select(Department))}
    existing_employees = {e.username: e for e in session.scalars(select(Employee))}
    for spec in departments:
        values = {"name": spec["name"], "parent_key": spec.get("parent"),
                  "head_username": spec.get("head"), "lanes": list(spec.get("lanes") or []),
                  "duties": list(spec.get("duties") or []), "active": True}
        _upsert(uow, report, "department", spec["key"], existing_departments.get(spec["key"]),
                lambda: Department(key=spec["key"]), values)
    for spec in employees:
        values = {"name": spec["name"], "department_key": spec["department"],
                  "position": spec.get("position"), "manager_username": spec.get("manager"),
                  "roles": list(spec.get("roles") or ["staff"]),
                  "base_salary": spec["base_salary"], "bonus_base": spec["bonus_base"],
                  "active": True}
        current = existing_employees.get(spec["username"])
        password = spec.get("password")
        if password is not None and not (current and verify_password(current.password_hash, password)):
            values["password_hash"] = hash_password(str(password))
        pay_before = _pay(current.base_salary, current.bonus_base) if current else None
        _upsert(uow, report, "employee", spec["username"], current,
                lambda: Employee(username=spec["username"]), values)
        if current is not None and "password_hash" in values:
            revoke_credentials(uow, current.username)  # a new password signs the old ones out
        pay_after = _pay(values["base_salary"], values["bonus_base"])
        if pay_after != pay_before:
            audit.record(uow, by, "salary", spec["username"], "org import",
                         pay_before, pay_after)
    # Whatever changed, org-derived caches (Directory.at_revision) start afresh.
    uow.session.execute(update(OrgRevision).values(token=uuid.uuid4().hex))
    seen_departments = {spec["key"] for spec in departments}
    seen_employees = {spec["username"] for spec in employees}
    for entity, existing, seen in (("department", existing_departments, seen_departments),
                                   ("employee", existing_employees, seen_employees)):
        for key, record in existing.items():
            if key not in seen and record.active:
                record.active = False
                record.updated_at = utcnow()
                _record(uow, report, entity, key, "deactivated", {"active": True}, {"active": False})
                report.deactivated += 1
    if report.changes:  # re-importing an unchanged file is no event
        audit.record(uow, by, "org_import", report.import_id, "imported", None,
                     {"file": filename, "created": report.created, "updated": report.updated,
                      "deactivated": report.deactivated})
    uow.commit()
    return report


def _pay(base_salary: Decimal, bonus_base: Decimal) -> dict[str, str]:
    """What the audit trail records of someone's pay, as exact decimal strings."""
    return {"base_salary": str(money(base_salary)), "bonus_base": str(money(bonus_base))}


def _upsert(uow, report, entity, key, current, create, values) -> None:
    if current is None:
        record = create()
        for name, value in values.items():
            setattr(record, name, value)
        uow.session.add(record)
        _record(uow, report, entity, key, "created", None, _public(values))
        report.created += 1
        return
    before, after = {}, {}
    for name, value in values.items():
        old = getattr(current, name)
        if old != value:
            before[name], after[name] = old, value
            setattr(current, name, value)
    if after:
        current.updated_at = utcnow()
        _record(uow, report, entity, key, "updated", _public(before), _public(after))
        report.updated += 1


def _public(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready audit values; a password hash is recorded only as having changed."""
    out = {}
    for name, value in values.items():
        if name == "password_hash":
            out["password"] = "changed"
        elif isinstance(value, Decimal):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def _record(uow, report, entity, key, action, before, after) -> None:
    uow.session.add(OrgChange(import_id=report.import_id, entity=entity, entity_key=key,
                              action=action, before=before, after=after))
    report.changes.append(f"{action} {entity} {key}")


def parse_org(text: str, filename: str) -> tuple[list[dict], list[dict]]:
    """Parse and validate an org file; raise InvalidInput listing every problem with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        raise InvalidInput(f"{filename}:{line}: invalid YAML: {getattr(err, 'problem', err)}",
                           [f"{filename}:{line}: invalid YAML"]) from None
    lines = _line_index(node)
    problems: list[str] = []

    def problem(path: str, message: str) -> None:
        problems.append(f"{filename}:{lines.get(path, lines.get(path.rsplit('.', 1)[0], '?'))}: "
                        f"{path}: {message}")

    if not isinstance(document, dict):
        raise InvalidInput(f"{filename}:1: the file must be a mapping with departments and employees")
    for unknown in set(document) - {"departments", "employees"}:
        problem(str(unknown), "unknown top-level key")
    departments = document.get("departments") or []
    employees = document.get("employees") or []
    if not isinstance(departments, list) or not isinstance(employees, list):
        raise InvalidInput(f"{filename}: departments and employees must be lists")
    department_keys = _check_departments(departments, problem)
    usernames = _check_employees(employees, department_keys, problem)
    for index, spec in enumerate(departments):
        if isinstance(spec, dict) and spec.get("head") and spec["head"] not in usernames:
            problem(f"departments[{index}].head", f"{spec['head']!r} is not an employee in this file")
    if problems:
        raise InvalidInput(f"{filename}: {len(problems)} problem(s)\n" + "\n".join(problems), problems)
    return departments, employees


def _entries(section: str, items: list, known: set[str], problem) -> Iterator[tuple[str, dict]]:
    """(path, entry) for each entry of a section that is a mapping: one rule for both
    sections, reporting entries that are no mapping and keys no entry may have."""
    for index, spec in enumerate(items):
        path = f"{section}[{index}]"
        if not isinstance(spec, dict):
            problem(path, "must be a mapping")
            continue
        for unknown in set(spec) - known:
            problem(f"{path}.{unknown}", "unknown key")
        yield path, spec


def _check_departments(departments: list, problem) -> set[str]:
    keys: set[str] = set()
    routes: dict[str, str] = {}
    for path, spec in _entries("departments", departments, _DEPARTMENT_KEYS, problem):
        key, name = spec.get("key"), spec.get("name")
        if not isinstance(key, str) or not _KEY.match(key):
            problem(f"{path}.key", "required: letters, digits, '_', '.', '-' (at most 64)")
            continue
        if key in keys:
            problem(f"{path}.key", f"duplicate department key {key!r}")
        keys.add(key)
        if not isinstance(name, str) or not name.strip():
            problem(f"{path}.name", "required")
            name = key
        for list_field in ("lanes", "duties"):
            value = spec.get(list_field)
            if value is not None and (not isinstance(value, list)
                                      or not all(isinstance(v, str) and v.strip() for v in value)):
                problem(f"{path}.{list_field}", "must be a list of non-empty strings")
        for route in {key, name, *(spec.get("lanes") or [])}:
            if isinstance(route, str) and routes.setdefault(route, key) != key:
                problem(f"{path}", f"lane name {route!r} would route to both "
                                   f"{routes[route]!r} and {key!r}")
    parents = {spec["key"]: spec.get("parent") for spec in departments
               if isinstance(spec, dict) and isinstance(spec.get("key"), str)}
    for index, spec in enumerate(departments):
        if isinstance(spec, dict) and spec.get("parent") is not None:
            if spec["parent"] not in keys:
                problem(f"departments[{index}].parent", f"{spec['parent']!r} is not a department key")
            elif _has_cycle(spec.get("key"), parents):
                problem(f"departments[{index}].parent", "parent chain loops back to this department")
    return keys


def _has_cycle(start: str, parents: dict[str, str | None]) -> bool:
    seen, current = set(), start
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def _check_employees(employees: list, department_keys: set[str], problem) -> set[str]:
    usernames: set[str] = set()
    for path, spec in _entries("employees", employees, _EMPLOYEE_KEYS, problem):
        username = spec.get("username")
        if not isinstance(username, str) or not _KEY.match(username):
            problem(f"{path}.username", "required: letters, digits, '_', '.', '-' (at most 64)")
        elif username in usernames:
            problem(f"{path}.username", f"duplicate username {username!r}")
        else:
            usernames.add(username)
        if not isinstance(spec.get("name"), str) or not spec["name"].strip():
            problem(f"{path}.name", "required")
        if spec.get("department") not in department_keys:
            problem(f"{path}.department", f"{spec.get('department')!r} is not a department key")
        roles = spec.get("roles", ["staff"])
        if not isinstance(roles, list) or not roles or any(role not in ROLES for role in roles):
            problem(f"{path}.roles", f"must be a non-empty list of {', '.join(ROLES)}")
        for pay_field in ("base_salary", "bonus_base"):
            amount = _money(spec.get(pay_field))
            if amount is None:
                problem(f"{path}.{pay_field}", "required: a non-negative amount with at most 2 decimals, "
                                           "quoted, e.g. \"8000.00\"")
            else:
                spec[pay_field] = amount
        if "password" in spec and (not isinstance(spec["password"], (str, int))
                                   or not str(spec["password"])):
            problem(f"{path}.password", "must be a non-empty string")
    for index, spec in enumerate(employees):
        if isinstance(spec, dict) and spec.get("manager") and spec["manager"] not in usernames:
            problem(f"employees[{index}].manager", f"{spec['manager']!r} is not an employee in this file")
    return usernames


def _money(value: Any) -> Decimal | None:
    if isinstance(value, float) or value is None or isinstance(value, bool):
        return None  # floats have already lost cents; insist on quoted strings
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        return None
    return amount.quantize(CENT)


def _line_index(node: yaml.Node | None, path: str = "", out: dict | None = None) -> dict[str, int]:
    """Map `departments[0].key`-style paths to 1-based source lines."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            out[child] = key_node.start_mark.line + 1
            _line_index(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_index(item, f"{path}[{index}]", out)
    return out

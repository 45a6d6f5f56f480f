"""The organisation: departments own duties, employees belong to departments.

Loaded from the fixed YAML format with `dutyflow org import FILE`. Re-importing
updates in place and records each change (what/before/after, by import) in org_changes,
and in the audit trail who ran each import and every change to someone's pay;
departments and employees missing from a new file are deactivated, not deleted, so
past events keep pointing at real records.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from payroll.money import money
from services.identity import audit
from services.identity.credentials import revoke_credentials
from services.identity.passwords import hash_password, verify_password
from services.org.org_document import parse_org
from services.persistence.models import Department, Employee, OrgChange, OrgRevision, utcnow
from services.persistence.unit_of_work import UnitOfWork

@dataclass
class ImportReport:
    import_id: str
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    changes: list[str] = field(default_factory=list)


def import_org(uow: UnitOfWork, text: str, filename: str, by: str) -> ImportReport:
    """Validate the whole (YAML) file first; then apply it, `by` whom, and commit."""
    departments, employees = parse_org(text, filename)
    return apply_org(uow, departments, employees, filename, by)


def apply_org(uow: UnitOfWork, departments: list[dict], employees: list[dict], filename: str,
              by: str, commit: bool = True) -> ImportReport:
    """Apply a validated org document (org_document.check_org), `by` whom, and commit (or,
    with `commit=False`, leave that to a caller that writes more in the same transaction)."""
    report = ImportReport(import_id=str(uuid.uuid4()))
    session = uow.session
    existing_departments = {d.key: d for d in session.scalars(select(Department))}
    existing_employees = {e.username: e for e in session.scalars(select(Employee))}
    for spec in departments:
        values = {"name": spec["name"], "parent_key": spec.get("parent"),
                  "head_username": spec.get("head"), "lanes": list(spec.get("lanes") or []),
                  "duties": list(spec.get("duties") or []),
                  "remind_after": spec.get("remind_after"),
                  "escalate_after": spec.get("escalate_after"), "active": True}
        if "notify" in spec:  # left out (as exports and spreadsheets do): channels kept
            values["notify"] = spec["notify"]
        _upsert(uow, report, "department", spec["key"], existing_departments.get(spec["key"]),
                lambda: Department(key=spec["key"]), values)
    for spec in employees:
        values = {"name": spec["name"], "department_key": spec["department"],
                  "position": spec.get("position"), "manager_username": spec.get("manager"),
                  "roles": list(spec.get("roles") or ["staff"]),
                  "base_salary": spec["base_salary"], "bonus_base": spec["bonus_base"],
                  "email": spec.get("email"), "locale": spec.get("locale"), "active": True}
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
    if report.changes:  # re-importing an unchanged file is no event, and no new revision
        # Org-derived caches (Directory.at_revision) start afresh.
        uow.session.execute(update(OrgRevision).values(token=uuid.uuid4().hex))
        audit.record(uow, by, "org_import", report.import_id, "imported", None,
                     {"file": filename, "created": report.created, "updated": report.updated,
                      "deactivated": report.deactivated})
    if commit:
        uow.commit()
    return report


def export_document(uow: UnitOfWork) -> dict[str, list[dict]]:
    """The active org as an org file's document: importing it changes nothing. Passwords
    (only hashes are kept) and notification channels (secrets) are left out, and a file
    that leaves them out keeps them."""
    departments = [_present({"key": d.key, "name": d.name, "parent": d.parent_key,
                             "head": d.head_username, "lanes": d.lanes or None,
                             "duties": d.duties or None, "remind_after": d.remind_after,
                             "escalate_after": d.escalate_after})
                   for d in uow.session.scalars(select(Department).where(Department.active)
                                                .order_by(Department.key))]
    employees = [_present({"username": e.username, "name": e.name,
                           "department": e.department_key, "position": e.position,
                           "manager": e.manager_username, "roles": e.roles or None,
                           "base_salary": str(money(e.base_salary)),
                           "bonus_base": str(money(e.bonus_base)), "email": e.email,
                           "locale": e.locale})
                 for e in uow.session.scalars(select(Employee).where(Employee.active)
                                              .order_by(Employee.department_key, Employee.username))]
    return {"departments": departments, "employees": employees}


def _present(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if value is not None}


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
    """JSON-ready audit values; a password hash is recorded only as having changed, and
    notification channels (URLs may hold tokens, secrets sign) only as set or not."""
    out = {}
    for name, value in values.items():
        if name == "password_hash":
            out["password"] = "changed"
        elif name == "notify":
            out[name] = sorted(value) if value else None
        elif isinstance(value, Decimal):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def _record(uow, report, entity, key, action, before, after) -> None:
    uow.session.add(OrgChange(import_id=report.import_id, entity=entity, entity_key=key,
                              action=action, before=before, after=after))
    report.changes.append(f"{action} {entity} {key}")

"""A reorganisation: an org file (YAML, xlsx or CSV) previewed before it applies, then imported.

The preview shows what the import would do, and writes nothing: per step of the deployed
(current) process versions, the owning department before and after; the open tasks that
would move to another department's inbox; the lanes and candidate groups that would route
to no department (the import is then refused, listing them); and the people who change
department, with the KPI scheme that would score them next (the department's scheme in
effect for the current period, which is paid as the org stands at its end).

The import applies the file as services.org.org_file does (its diff, audit and routing
revision) and, in the same transaction, moves the open tasks to their new inboxes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from payroll.periods import Period
from services.errors import Conflict, InvalidInput
from services.identity.actor import Actor
from services.org import org_file, org_sheets
from services.persistence.models import Department, Employee, OrgChange
from services.persistence.unit_of_work import UnitOfWork
from services.pay.kpi import scheme_rows
from services.workflow import rerouting
from services.workflow.views import iso


@dataclass
class Imported:
    report: org_file.ImportReport
    moved_tasks: int


def preview(uow: UnitOfWork, actor: Actor, data: bytes, filename: str, period: Period
            ) -> dict[str, Any]:
    """What importing the file would change (see the module); raises InvalidInput for a
    file with problems, as the import would."""
    actor.require("hr", "admin")
    departments, employees = org_sheets.read_org(data, filename)
    impact = rerouting.routing_impact(uow, departments, employees)
    names = {row.key: row.name for row in uow.session.execute(
        select(Department.key, Department.name))}
    new_names = {**names, **{spec["key"]: spec["name"] for spec in departments}}
    current = {row.username: row for row in uow.session.execute(
        select(Employee.username, Employee.name, Employee.department_key, Employee.active))}
    schemes = scheme_rows(uow, period=period)
    moving = []
    for spec in employees:
        was = current.get(spec["username"])
        if was is not None and was.active and was.department_key != spec["department"]:
            scheme = schemes.get(spec["department"])
            moving.append({
                "username": spec["username"], "name": spec["name"],
                "before": _department(was.department_key, names),
                "after": _department(spec["department"], new_names),
                "scheme": {"department": scheme.department_key, "version": scheme.version,
                           "effective_from": scheme.document.get("effective_from"),
                           "indicators": list(scheme.document.get("indicators", []))}
                if scheme is not None else None})
    active_departments = {row.key for row in uow.session.scalars(
        select(Department).where(Department.active))}
    seen_people = {spec["username"] for spec in employees}
    return {
        "file": filename,
        "revision": _revision(uow),
        "period": str(period),
        "refused": bool(impact.orphans),
        "departments": {
            "created": sorted({spec["key"] for spec in departments} - active_departments),
            "deactivated": sorted(active_departments - {spec["key"] for spec in departments})},
        "employees": {
            "created": sorted(seen_people - {name for name, row in current.items() if row.active}),
            "deactivated": sorted(name for name, row in current.items()
                                  if row.active and name not in seen_people)},
        "steps": [{"process_key": step.process_key, "version": step.version,
                   "element_id": step.element_id, "name": step.name, "lane": step.lane,
                   "candidate_groups": list(step.candidate_groups),
                   "before": _inbox(step.before, names), "after": _inbox(step.after, new_names),
                   "moves": step.moves} for step in impact.steps],
        "moved_tasks": [{"id": move.task.id, "name": move.task.name,
                         "process_key": move.task.process_key,
                         "process_instance_id": move.task.process_instance_id,
                         "assignee": move.task.assignee, "unassigned": move.unassigned,
                         "due_at": iso(move.task.due_at),
                         "before": _inbox(move.before, names),
                         "after": _inbox(move.after, new_names)}
                        for move in impact.moves],
        "orphans": [{"process_key": key, "version": version, "element_id": element_id,
                     "name": name, "owner": owner}
                    for key, version, element_id, name, owner in impact.orphans],
        "people": moving,
    }


def import_file(uow: UnitOfWork, actor: Actor, data: bytes, filename: str,
                expected_revision: str | None = None) -> Imported:
    """Import the file (validated as a whole first) and move the open tasks, in one commit.

    Refused, changing nothing, when a lane or candidate group of a deployed step would route
    to no department, or (with `expected_revision`, the preview's) when the org changed
    since the preview."""
    actor.require("hr", "admin")
    departments, employees = org_sheets.read_org(data, filename)
    if expected_revision is not None and _revision(uow) != expected_revision:
        raise Conflict("the org changed since this preview: preview the file again")
    impact = rerouting.routing_impact(uow, departments, employees)
    if impact.orphans:
        problems = [f"{key} v{version}: {element_id} ({name}): {owner!r} would route to no "
                    f"department" for key, version, element_id, name, owner in impact.orphans]
        raise InvalidInput(f"{filename}: refused: {len(problems)} lane(s) or candidate group(s) "
                           f"would route to no department\n" + "\n".join(problems), problems)
    report = org_file.apply_org(uow, departments, employees, filename, actor.username,
                                commit=False)
    rerouting.move_open_tasks(uow, impact, actor.username, f"org import {report.import_id}")
    uow.commit()
    return Imported(report, len(impact.moves))


def _revision(uow: UnitOfWork) -> str:
    """Which org a preview was of: the last change any import made (every change is kept)."""
    return str(uow.session.scalar(select(func.max(OrgChange.id))) or 0)


def _department(key: str | None, names: dict[str, str]) -> dict[str, Any] | None:
    return {"key": key, "name": names.get(key, key)} if key is not None else None


def _inbox(inbox: tuple[str | None, list[str]], names: dict[str, str]) -> dict[str, Any]:
    key, candidates = inbox
    return {"department": _department(key, names),
            "candidates": [_department(candidate, names) for candidate in candidates]}

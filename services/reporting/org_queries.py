"""Read-side views of the organisation: departments, people, and who does which duty."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from engine.model import DutySpec, ProcessModel
from services.identity.actor import Actor
from services.org.directory import Directory
from services.persistence.models import Department, Employee, TaskEvent
from services.persistence.unit_of_work import UnitOfWork
from services.reporting.rates import rate
from services.workflow.definitions import list_latest, model_of
from services.workflow.participation import visible_departments


def list_departments(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    visible = visible_departments(uow, actor)
    rows = uow.session.scalars(select(Department).where(Department.active).order_by(Department.key))
    return [{"key": d.key, "name": d.name, "parent": d.parent_key, "head": d.head_username,
             "lanes": d.lanes, "duties": d.duties}
            for d in rows if visible is None or d.key in visible]


def list_employees(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    visible = visible_departments(uow, actor)
    sees_pay = actor.has("hr", "admin")
    rows = uow.session.scalars(select(Employee).where(Employee.active).order_by(Employee.username))
    out = []
    for e in rows:
        if visible is not None and e.department_key not in visible:
            continue
        view = {"username": e.username, "name": e.name, "department": e.department_key,
                "position": e.position, "manager": e.manager_username, "roles": e.roles}
        if sees_pay:
            view.update(base_salary=str(e.base_salary), bonus_base=str(e.bonus_base))
        out.append(view)
    return out


def latest_duties(uow: UnitOfWork) -> Iterator[tuple[ProcessModel, DutySpec, set[str]]]:
    """(process, duty, owning departments) for every duty of the latest deployed version
    of every process: what the org chart's and the scheme editor's duties are read from."""
    directory = Directory.load(uow)
    for definition in list_latest(uow):
        model = model_of(uow, definition)
        for duty in model.duties.values():
            yield model, duty, directory.owners_of(duty)


def duty_owners(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every step of every deployed process with the departments that own it (no counts)."""
    return [{"process_key": model.key, "element_id": duty.element_id, "name": duty.name,
             "lane": duty.lane, "owners": sorted(owners)}
            for model, duty, owners in latest_duties(uow)]


def duty_matrix(uow: UnitOfWork, actor: Actor) -> dict[str, Any]:
    """Departments x steps of every deployed process, with who actually did the work.

    A step overlaps when more than one department owns it in the diagrams or more
    than one department's people have completed it.
    """
    actor.require("manager", "hr", "designer", "admin")
    directory = Directory.load(uow)
    done: dict[tuple[str, str], dict[str, int]] = {}
    counts = uow.session.execute(
        select(TaskEvent.process_key, TaskEvent.element_id, TaskEvent.actor_department_key,
               func.count()).group_by(TaskEvent.process_key, TaskEvent.element_id,
                                      TaskEvent.actor_department_key))
    for process_key, element_id, department_key, count in counts:
        done.setdefault((process_key, element_id), {})[department_key or "-"] = count
    steps = duty_owners(uow)
    for step in steps:
        by_department = done.get((step["process_key"], step["element_id"]), {})
        total = sum(by_department.values())
        step["completions"] = total
        step["done_by"] = {key: rate(count, total)
                           for key, count in sorted(by_department.items())} if total else {}
        step["overlap"] = len(step["owners"]) > 1 or len(by_department) > 1
    departments = [{"key": d.key, "name": d.name} for d in directory.departments.values()]
    return {"departments": sorted(departments, key=lambda d: d["key"]), "steps": steps,
            "overlaps": [step for step in steps if step["overlap"]]}

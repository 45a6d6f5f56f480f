"""The organisation as each caller may see it, the duty matrix, and absences."""
from __future__ import annotations

from services.org import absences
from services.persistence.models import Absence as AbsenceRow
from services.reporting import org_queries
from services.workflow.views import iso

from . import actor, bp, store
from .contract import operation
from .schemas import Absence, AbsenceRequest, Department, DutyMatrix, Employee


@bp.get("/departments")
@operation({200: Department(many=True)})
def departments():
    """Departments visible to the caller."""
    with store().reading() as uow:
        return org_queries.list_departments(uow, actor())


@bp.get("/employees")
@operation({200: Employee(many=True)})
def employees():
    """Employees visible to the caller (salaries for HR and admins only)."""
    with store().reading() as uow:
        return org_queries.list_employees(uow, actor())


@bp.get("/duty-matrix")
@operation({200: DutyMatrix}, problems=(403,))
def duty_matrix():
    """Departments x steps, with who actually did each step, and overlaps."""
    with store().reading() as uow:
        return org_queries.duty_matrix(uow, actor())


@bp.put("/employees/<username>/absence")
@operation({200: Absence}, body=AbsenceRequest, problems=(403, 404, 422))
def set_absence(username: str, body: dict):
    """Record (or replace) a person's absence and substitute: the person, the head of their
    department (or a manager above it), HR or an admin. While absent, the work routed to
    them goes to the substitute, who must be in the same department."""
    with store().writing() as uow:
        return absence_view(absences.set_absence(uow, actor(), username, body["from"],
                                                 body["to"], body["substitute"]))


@bp.delete("/employees/<username>/absence")
@operation({200: Absence}, problems=(403, 404))
def end_absence(username: str):
    """End a person's absence now; answers with the absence ended. Who may: as for PUT."""
    with store().writing() as uow:
        return absence_view(absences.end_absence(uow, actor(), username))


def absence_view(absence: AbsenceRow) -> dict:
    return {"username": absence.username, "from": iso(absence.starts_at),
            "to": iso(absence.ends_at), "substitute": absence.substitute,
            "set_by": absence.set_by, "set_at": iso(absence.set_at)}

"""The organisation as each caller may see it, and the duty matrix."""
from __future__ import annotations

from services.reporting import org_queries

from . import actor, bp, store
from .contract import operation
from .schemas import Department, DutyMatrix, Employee


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

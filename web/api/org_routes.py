"""The organisation as each caller may see it, and the duty matrix."""
from __future__ import annotations

from flask import jsonify

from services.reporting import org_queries

from . import actor, bp, store


@bp.get("/departments")
def departments():
    """Departments visible to the caller.
    ---
    get:
      responses:
        200: {content: {application/json: {schema: {type: array, items: {type: object}}}}}
    """
    with store().reading() as uow:
        return jsonify(org_queries.list_departments(uow, actor()))


@bp.get("/employees")
def employees():
    """Employees visible to the caller (salaries for HR and admins only).
    ---
    get:
      responses:
        200: {content: {application/json: {schema: {type: array, items: {type: object}}}}}
    """
    with store().reading() as uow:
        return jsonify(org_queries.list_employees(uow, actor()))


@bp.get("/duty-matrix")
def duty_matrix():
    """Departments x steps, with who actually did each step, and overlaps.
    ---
    get:
      responses:
        200: {content: {application/json: {schema: {type: object}}}}
        403: problem
    """
    with store().reading() as uow:
        return jsonify(org_queries.duty_matrix(uow, actor()))

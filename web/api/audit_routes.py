"""The audit trail, for HR and admins: who changed a scheme, a run or pay, and when."""
from __future__ import annotations

from flask import jsonify, request

from services.identity import audit

from . import actor, bp, load, store
from .schemas import AuditQuery


@bp.get("/audit")
def audit_trail():
    """Audit entries, newest first; page back with `before` = the last id seen.
    ---
    get:
      parameters:
        - {name: entity, in: query, schema: {type: string, enum: [kpi_scheme, payroll_run, salary, org_import]}}
        - {name: key, in: query, schema: {type: string}, description: "department key, run id, username or import id"}
        - {name: before, in: query, schema: {type: integer}}
        - {name: limit, in: query, schema: {type: integer, default: 50, maximum: 200}}
      responses:
        200: {content: {application/json: {schema: {type: array, items: {type: object}}}}}
        403, 422: problem
    """
    query = load(AuditQuery, request.args.to_dict())
    with store().reading() as uow:
        return jsonify(audit.trail(uow, actor(), query.get("entity"), query.get("key"),
                                   query["limit"], query.get("before")))

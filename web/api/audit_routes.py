"""The audit trail, for HR and admins: who changed a scheme, a run or pay, and when."""
from __future__ import annotations

from services.identity import audit

from . import actor, bp, store
from .contract import operation
from .schemas import AuditEntry, AuditQuery


@bp.get("/audit")
@operation({200: AuditEntry(many=True)}, query=AuditQuery, problems=(403, 422))
def audit_trail(query: dict):
    """Audit entries, newest first; page back with `before` = the last id seen."""
    with store().reading() as uow:
        return audit.trail(uow, actor(), query.get("entity"), query.get("key"),
                           query["limit"], query.get("before"))

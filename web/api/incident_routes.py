"""Incidents: the steps that failed, for admins and designers to repair."""
from __future__ import annotations

from services.workflow import repair
from services.workflow.views import incident_view

from . import actor, bp, store
from .contract import operation
from .schemas import Incident, IncidentQuery


@bp.get("/incidents")
@operation({200: Incident(many=True)}, query=IncidentQuery, problems=(403, 422))
def list_incidents(query: dict):
    """Incidents, newest first, by process, element, instance or status (open, resolved)."""
    limit = query.pop("limit")
    offset = (query.pop("page") - 1) * limit
    with store().reading() as uow:
        return [incident_view(row) for row in repair.list_incidents(
            uow, actor(), limit=limit, offset=offset, **query)]

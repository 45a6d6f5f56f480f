"""The audit trail: every change to a scheme, a run or pay, every org import and absence, with
who and when, from what, to what. Entries are only ever added."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from services.persistence.models import AuditEntry, utcnow
from services.persistence.unit_of_work import UnitOfWork

if TYPE_CHECKING:  # access imports the org module, which records here
    from services.identity.actor import Actor

ENTITIES = ("kpi_scheme", "payroll_run", "salary", "org_import", "absence")


def record(uow: UnitOfWork, actor: str | None, entity: str, key: str, action: str,
           old: Any = None, new: Any = None) -> None:
    uow.session.add(AuditEntry(at=utcnow(), actor=actor, entity=entity, entity_key=key,
                               action=action, old=old, new=new))


def trail(uow: UnitOfWork, actor: Actor, entity: str | None = None, key: str | None = None,
          limit: int = 50, before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first; page back with `before_id` = the last id seen (HR or admin only:
    the trail holds everyone's pay)."""
    actor.require("hr", "admin")
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    if key is not None:
        query = query.where(AuditEntry.entity_key == key)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [{"id": entry.id, "at": entry.at.isoformat(), "actor": entry.actor,
             "entity": entry.entity, "key": entry.entity_key, "action": entry.action,
             "old": entry.old, "new": entry.new}
            for entry in uow.session.scalars(query)]

"""The audit trail: every change to a scheme, a run or pay, with who and when."""
from __future__ import annotations

from typing import Any

from .models import AuditEntry, utcnow
from .unit_of_work import UnitOfWork


def record(uow: UnitOfWork, actor: str | None, entity: str, key: str, action: str,
           old: Any = None, new: Any = None) -> None:
    uow.session.add(AuditEntry(at=utcnow(), actor=actor, entity=entity, entity_key=key,
                               action=action, old=old, new=new))

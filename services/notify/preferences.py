"""A person's choice of channels: the in-app list, email, and whether they hear of every
new task of their department (opt-in: a busy department would flood everyone)."""
from __future__ import annotations

from typing import Any

from services.identity.actor import Actor
from services.persistence.models import NotificationSettings, utcnow
from services.persistence.unit_of_work import UnitOfWork

DEFAULTS: dict[str, bool] = {"app": True, "email": True, "department_tasks": False}


def settings_of(uow: UnitOfWork, username: str) -> dict[str, bool]:
    row = uow.session.get(NotificationSettings, username)
    if row is None:
        return dict(DEFAULTS)
    return {name: getattr(row, name) for name in DEFAULTS}


def save_settings(uow: UnitOfWork, actor: Actor, values: dict[str, Any]) -> dict[str, bool]:
    """Change the caller's own choices (only the ones given); commits."""
    row = uow.session.get(NotificationSettings, actor.username)
    if row is None:
        row = NotificationSettings(username=actor.username, **DEFAULTS)
        uow.session.add(row)
    for name in DEFAULTS:
        if name in values:
            setattr(row, name, bool(values[name]))
    row.updated_at = utcnow()
    uow.commit()
    return {name: getattr(row, name) for name in DEFAULTS}

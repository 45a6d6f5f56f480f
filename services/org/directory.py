"""Routing names to departments: a lane or candidate group answers to a department.

Read on every step that creates a task, cached per org revision (a token each import
replaces), so a cached directory is never stale and never another database's.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from engine.model import DutySpec

from services.persistence.models import Department
from services.persistence.unit_of_work import UnitOfWork

_ROUTING = select(Department.__table__.c.key, Department.__table__.c.name,
                  Department.__table__.c.lanes, Department.__table__.c.notify,
                  Department.__table__.c.remind_after, Department.__table__.c.escalate_after
                  ).where(Department.__table__.c.active)


class Directory:
    """Routes lane and candidate-group names to active departments.

    A department answers to its key, its name and each of its `lanes` entries. Holds
    (key, name, lanes, notify, remind_after, escalate_after) rows, not Department
    objects: every step that creates a task reads it, and the org may be re-imported
    between any two steps. The notification channels and follow-up defaults ride along
    so that a new task's deliveries and reminders need no query of their own.
    """

    def __init__(self, departments: Iterable[Any]):
        self.departments = {department.key: department for department in departments}
        self._by_name: dict[str, Any] = {}
        for department in self.departments.values():
            for name in (department.key, department.name, *department.lanes):
                self._by_name[name] = department

    @classmethod
    def load(cls, uow: UnitOfWork) -> "Directory":
        return cls(uow.core(_ROUTING))

    @classmethod
    def at_revision(cls, uow: UnitOfWork, token: str | None) -> "Directory":
        """The directory as of org revision `token` (read with the caller's own query);
        without a token, read afresh.

        Cached by the Store (`uow.directories`): tokens are random and replaced by every
        import, so a cached directory is never stale, and no other Store sees it."""
        if token is None:
            return cls.load(uow)
        directory = uow.directories.get(token)
        if directory is None:
            directory = cls.load(uow)
            uow.directories.put(token, directory)
        return directory

    def department_for(self, name: str | None) -> Any | None:
        """The department (with .key, .name, .lanes) a lane or group name routes to."""
        return self._by_name.get(name.strip()) if name else None

    def is_known_owner(self, name: str) -> bool:
        return self.department_for(name) is not None

    def departments_of(self, names: Iterable[str | None]) -> set[str]:
        """The keys of the active departments that lane or group names route to (names
        routing nowhere are left out: a diagram may outlive a department)."""
        return {department.key for name in names
                if (department := self.department_for(name)) is not None}

    def owners_of(self, duty: DutySpec) -> set[str]:
        """The departments that own a duty and may do it: its lane's and its candidate
        groups'. Every reader of "whose duty is this" asks here."""
        return self.departments_of(duty.owners)

    def inbox_of(self, duty: DutySpec) -> tuple[str | None, list[str]]:
        """(department_key, candidate_departments) of a new task of this duty.

        Inboxes index department_key: the lane's department lists the task; a duty owned
        only by candidate groups is listed under the first of them (all may still do it).
        """
        owner = self.department_for(duty.lane)
        candidates = sorted(self.departments_of(duty.candidate_groups))
        return (owner.key if owner else (candidates[0] if candidates else None)), candidates

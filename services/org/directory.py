"""Routing names to departments: a lane or candidate group answers to a department.

Read on every step that creates a task, cached per org revision (a token each import
replaces), so a cached directory is never stale and never another database's.
"""
from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from engine.model import DutySpec
from engine.people import OrgSnapshot

from services.persistence.models import Department, Employee
from services.persistence.unit_of_work import UnitOfWork

_departments, _employees = Department.__table__, Employee.__table__
_ROUTING = select(_departments.c.key, _departments.c.name, _departments.c.lanes,
                  _departments.c.parent_key, _departments.c.head_username,
                  _departments.c.notify, _departments.c.remind_after,
                  _departments.c.escalate_after).where(_departments.c.active)
_PEOPLE = select(_employees.c.username, _employees.c.department_key).where(_employees.c.active)


class Directory:
    """Routes lane and candidate-group names to active departments.

    A department answers to its key, its name and each of its `lanes` entries. Holds
    (key, name, lanes, notify, remind_after, escalate_after) rows, not Department
    objects: every step that creates a task reads it, and the org may be re-imported
    between any two steps. The notification channels and follow-up defaults ride along
    so that a new task's deliveries and reminders need no query of their own.
    """

    def __init__(self, departments: Iterable[Any], revision: str | None = None):
        self.departments = {department.key: department for department in departments}
        self.revision = revision
        self._by_name: dict[str, Any] = {}
        for department in self.departments.values():
            for name in (department.key, department.name, *department.lanes):
                self._by_name[name] = department
        self._snapshot: OrgSnapshot | None = None

    @classmethod
    def load(cls, uow: UnitOfWork) -> "Directory":
        return cls(uow.core(_ROUTING))

    @classmethod
    def proposed(cls, departments: Iterable[dict], employees: Iterable[dict]) -> "Directory":
        """The directory an org document (services.org.org_document) would make, with its
        people: what routing would be after importing it, by the same rules. Nothing is
        read or cached; its snapshot needs no unit of work."""
        directory = cls(SimpleNamespace(
            key=spec["key"], name=spec["name"], lanes=list(spec.get("lanes") or []),
            parent_key=spec.get("parent"), head_username=spec.get("head"),
            notify=spec.get("notify"), remind_after=spec.get("remind_after"),
            escalate_after=spec.get("escalate_after")) for spec in departments)
        directory._snapshot = OrgSnapshot(
            None, {spec["username"]: spec["department"] for spec in employees},
            {key: (row.parent_key, row.head_username) for key, row in directory.departments.items()},
            {name: row.key for name, row in directory._by_name.items()})
        return directory

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
            directory = cls(uow.core(_ROUTING), token)
            uow.directories.put(token, directory)
        return directory

    def snapshot(self, uow: UnitOfWork) -> OrgSnapshot:
        """The org as persons are routed by it (engine.people): people are read on first
        use, with `uow`, and kept as long as this directory (one org revision)."""
        if self._snapshot is None:
            people = {row.username: row.department_key for row in uow.core(_PEOPLE)
                      if row.department_key in self.departments}
            self._snapshot = OrgSnapshot(
                self.revision, people,
                {key: (row.parent_key, row.head_username)
                 for key, row in self.departments.items()},
                {name: row.key for name, row in self._by_name.items()})
        return self._snapshot

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

    def inbox_of(self, duty: DutySpec, named: tuple[str, ...] = (),
                 snapshot: OrgSnapshot | None = None,
                 groups: tuple[str, ...] = ()) -> tuple[str | None, list[str]]:
        """(department_key, candidate_departments) of a new task of this duty.

        Inboxes index department_key: the lane's department lists the task; a duty owned
        only by candidate groups is listed under the first of them (all may still do it).
        `groups` are the group names its candidateGroups expression gave as the task
        became ready: they count exactly as literal candidate groups do.
        A duty with neither is owned by the departments of the persons `named` (its
        assignee first, then its candidate users; `snapshot` says where they belong),
        listed under the first one's.
        """
        candidate_groups = tuple(dict.fromkeys(duty.candidate_groups + groups))
        if not duty.lane and not candidate_groups and named and snapshot is not None:
            departments = [snapshot.department_of(username) for username in named]
            known = [key for key in dict.fromkeys(departments) if key is not None]
            return (known[0] if known else None), sorted(known)
        owner = self.department_for(duty.lane)
        candidates = sorted(self.departments_of(candidate_groups))
        return (owner.key if owner else (candidates[0] if candidates else None)), candidates

"""Absences: while a person is away, their substitute takes the work routed to them.

Substitution is read when work is taken, not copied onto tasks: the substitute sees the
absent person's tasks in their inbox and may claim and complete them (services.identity.
access.may_take), the completion recording `on_behalf_of`; when the absence ends the
tasks are the person's again, wherever they stood. The substitute must be in the same
department, so the duty stays with the department that owns it.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from services.errors import N_, InvalidInput, NotFound, PermissionDenied
from services.identity import audit
from services.identity.access import may_set_absence, may_take
from services.identity.actor import Actor
from services.persistence.models import Absence, Employee, utcnow
from services.persistence.unit_of_work import UnitOfWork


def covered_by(uow: UnitOfWork, username: str, now: dt.datetime) -> frozenset[str]:
    """The people `username` stands in for at `now`."""
    return frozenset(uow.session.scalars(select(Absence.username).where(
        Absence.substitute == username, Absence.starts_at <= now, Absence.ends_at > now)))


def substitutes_at(uow: UnitOfWork, usernames: list[str], now: dt.datetime) -> dict[str, str]:
    """Of `usernames`, those absent at `now` with an active substitute: absent -> substitute
    (whoever is told of work routed to them meanwhile)."""
    if not usernames:
        return {}
    return dict(uow.session.execute(
        select(Absence.username, Absence.substitute)
        .join(Employee, Employee.username == Absence.substitute)
        .where(Absence.username.in_(usernames), Absence.starts_at <= now,
               Absence.ends_at > now, Employee.active)).all())


def cover_for(uow: UnitOfWork, actor: Actor, task: Any, now: dt.datetime) -> frozenset[str]:
    """Whom `actor` stands in for, read only when `task` is not plainly theirs (the common
    case costs no query)."""
    return frozenset() if may_take(actor, task) else covered_by(uow, actor.username, now)


def set_absence(uow: UnitOfWork, actor: Actor, username: str, starts_at: dt.datetime,
                ends_at: dt.datetime, substitute: str) -> Absence:
    """Record (or replace) `username`'s absence; audited."""
    person = _person(uow, actor, username)
    if ends_at <= starts_at:
        raise InvalidInput(errors={"to": ["Must be after from."]},
                           text=N_("an absence ends after it starts"))
    if substitute == username:
        raise InvalidInput(errors={"substitute": ["Must be someone else."]},
                           text=N_("nobody substitutes for themselves"))
    deputy = _employee(uow, substitute)
    if deputy is None:
        raise InvalidInput(errors={"substitute": ["Unknown."]},
                           text=N_("'%(who)s' is not an active employee"),
                           params={"who": substitute})
    if deputy.department_key != person.department_key:
        raise InvalidInput(errors={"substitute": ["Not in the same department."]},
                           text=N_("%(who)s belongs to %(theirs)s, not to %(ours)s like %(user)s"),
                           params={"who": substitute, "theirs": deputy.department_key,
                                   "ours": person.department_key, "user": username})
    absence = uow.session.get(Absence, username)
    old = _audited(absence) if absence else None
    if absence is None:
        absence = Absence(username=username)
        uow.session.add(absence)
    absence.starts_at, absence.ends_at = (moment.astimezone(dt.timezone.utc)
                                          for moment in (starts_at, ends_at))
    absence.substitute = substitute
    absence.set_by, absence.set_at = actor.username, utcnow()
    audit.record(uow, actor.username, "absence", username, "set", old, _audited(absence))
    uow.commit()
    return absence


def end_absence(uow: UnitOfWork, actor: Actor, username: str) -> Absence:
    """End `username`'s absence now (its record is deleted; the audit trail keeps it);
    returns the absence ended."""
    _person(uow, actor, username)
    absence = uow.session.get(Absence, username)
    if absence is None:
        raise NotFound(text=N_("%(user)s has no absence recorded"), params={"user": username})
    audit.record(uow, actor.username, "absence", username, "end", _audited(absence), None)
    uow.session.delete(absence)
    uow.commit()
    return absence


def _person(uow: UnitOfWork, actor: Actor, username: str) -> Employee:
    person = _employee(uow, username)
    if person is None:
        raise NotFound(text=N_("'%(who)s' is not an active employee"), params={"who": username})
    if not may_set_absence(actor, username, person.department_key):
        raise PermissionDenied(text=N_("only %(user)s, the head of %(department)s, HR or an admin "
                                       "may set this absence"),
                               params={"user": username, "department": person.department_key})
    return person


def _employee(uow: UnitOfWork, username: str) -> Employee | None:
    employee = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
    return employee if employee is not None and employee.active else None


def _audited(absence: Absence) -> dict[str, str]:
    return {"from": absence.starts_at.isoformat(), "to": absence.ends_at.isoformat(),
            "substitute": absence.substitute}

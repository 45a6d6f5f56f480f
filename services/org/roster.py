"""Who is on the payroll for a period: the employees as the org stood at the period's end.

Payroll for a month is run after the month is over, and by then an org import may have
moved someone to another department, changed a salary or deactivated a leaver. The month
is paid as the org stood at its end (the scheme that applies is the one of the employee's
department at the end of the period): a leaver is still paid for the month they worked, a
transfer is scored on the old department's scheme, and a raise starts with the month it
was made in. Every import records each field it changed in `org_changes`, with the time;
undoing, newest first, the changes made since the period's end gives that org back.

An employee the first import created after the period is kept: the org file carries no
hiring date, and treating every creation as a hire would leave every month before an
installation's first import with nobody to pay.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select

from services.persistence.models import Employee, OrgChange
from services.persistence.unit_of_work import UnitOfWork

_UNDONE = frozenset({"name", "department_key", "base_salary", "bonus_base", "active"})
_MONEY = frozenset({"base_salary", "bonus_base"})


class Payee(NamedTuple):
    username: str
    name: str
    department_key: str
    base_salary: Decimal
    bonus_base: Decimal


def payees_at(uow: UnitOfWork, moment: dt.datetime, department_key: str | None = None
              ) -> list[Payee]:
    """The employees active at `moment` (in `department_key`, if given), by username."""
    return payees_at_each(uow, [moment], department_key)[moment]


def payees_at_each(uow: UnitOfWork, moments: list[dt.datetime],
                   department_key: str | None = None) -> dict[dt.datetime, list[Payee]]:
    """payees_at for several moments, reading the employees and their changes once."""
    if not moments:
        return {}
    today = {row.username: row._asdict() for row in uow.session.execute(
        select(Employee.username, *(getattr(Employee, name) for name in sorted(_UNDONE))))}
    later = uow.session.execute(
        select(OrgChange.entity_key, OrgChange.before, OrgChange.changed_at)
        .where(OrgChange.entity == "employee", OrgChange.action != "created",
               OrgChange.changed_at >= min(moments))
        .order_by(OrgChange.id.desc())).all()
    out = {}
    for moment in moments:
        people = {username: dict(person) for username, person in today.items()}
        for username, before, changed_at in later:
            person = people.get(username)
            if person is None or not before or changed_at < moment:
                continue
            for name in _UNDONE & before.keys():
                person[name] = Decimal(before[name]) if name in _MONEY else before[name]
        out[moment] = [Payee(**{field: person[field] for field in Payee._fields})
                       for _, person in sorted(people.items())
                       if person["active"] and department_key in (None, person["department_key"])]
    return out

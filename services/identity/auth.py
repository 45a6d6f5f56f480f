"""Sign-in: passwords exchanged for expiring bearer tokens."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import bindparam, delete, select

from services.errors import NotAuthenticated
from services.identity.access import actor_for
from services.identity.actor import Actor
from services.identity.passwords import verify_password
from services.persistence.models import ApiToken, Department, Employee, utcnow
from services.persistence.unit_of_work import UnitOfWork


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_password(uow: UnitOfWork, username: str, password: str) -> Employee:
    """The active employee these credentials belong to; one message for every failure."""
    employee = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
    usable = employee is not None and employee.active
    # Unknown and inactive accounts still cost one hash verification (a stand-in's):
    # answering them faster would tell an attacker which usernames are worth guessing at.
    if not verify_password(employee.password_hash if usable else None, password) or not usable:
        raise NotAuthenticated("unknown username or wrong password")
    return employee


def issue_token(uow: UnitOfWork, username: str, password: str, ttl: dt.timedelta) -> tuple[str, dt.datetime]:
    return issue_token_for(uow, check_password(uow, username, password), ttl)


def issue_token_for(uow: UnitOfWork, employee: Employee, ttl: dt.timedelta) -> tuple[str, dt.datetime]:
    """A bearer token for someone already signed in (by password, or through single sign-on
    on the pages, where no password exists to exchange)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    uow.session.execute(delete(ApiToken).where(ApiToken.expires_at < now))
    uow.session.add(ApiToken(token_hash=_digest(token), username=employee.username,
                             created_at=now,
                             expires_at=now + ttl,
                             credential_version=employee.credential_version))
    uow.commit()
    return token, now + ttl


_tokens, _employees, _departments = ApiToken.__table__, Employee.__table__, Department.__table__
_heads = (select(_departments.c.id).where(_departments.c.head_username == _employees.c.username,
                                          _departments.c.active).exists())
_TOKEN_HOLDER = (select(_tokens.c.expires_at, _tokens.c.credential_version.label("issued_under"),
                        _employees.c.credential_version, _employees.c.username,
                        _employees.c.department_key, _employees.c.roles, _employees.c.active,
                        _heads.label("heads"))
                 .select_from(_tokens.outerjoin(_employees,
                                                _employees.c.username == _tokens.c.username))
                 .where(_tokens.c.token_hash == bindparam("digest")))


def authenticate(uow: UnitOfWork, token: str) -> Actor:
    """Who a live token belongs to, as an Actor. Runs on every API call, hence plain
    columns in one query rather than loading an Employee object."""
    found = uow.core(_TOKEN_HOLDER, {"digest": _digest(token)}).first()
    if found is None or found.expires_at <= utcnow():
        raise NotAuthenticated("the token is unknown or expired; sign in again")
    if not found.active:
        raise NotAuthenticated("the account is no longer active")
    if found.issued_under != found.credential_version:
        raise NotAuthenticated("the token was revoked (new password or sign-out); sign in again")
    return actor_for(uow, found, heads_a_department=bool(found.heads))

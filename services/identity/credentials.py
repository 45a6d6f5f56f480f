"""Credential versions: revoking every token and page session of a person at once.

Each bearer token and page session records the employee's `credential_version` when it
is issued, and is refused once the two differ (services/identity/auth.py, web/pages). So a new
password or a sign-out raises one counter instead of finding every token and cookie,
which for signed cookies would not even be possible: they live only in browsers.
"""
from __future__ import annotations

from sqlalchemy import update

from services.identity.passwords import hash_password
from services.persistence.models import Employee
from services.persistence.unit_of_work import UnitOfWork


def revoke_credentials(uow: UnitOfWork, username: str) -> None:
    """Every token and page session `username` holds stops working."""
    # One UPDATE adding 1: two revocations at once both count, neither is lost.
    uow.session.execute(update(Employee).where(Employee.username == username)
                        .values(credential_version=Employee.credential_version + 1))


def sign_out_everywhere(uow: UnitOfWork, username: str) -> None:
    """Sign `username` out of every browser and API client, this one included."""
    revoke_credentials(uow, username)
    uow.commit()


def set_password(uow: UnitOfWork, employee: Employee, password: str) -> None:
    """A new password; whoever signed in with the old one (or stole a session) is out."""
    employee.password_hash = hash_password(password)
    revoke_credentials(uow, employee.username)
    uow.commit()

"""Who is asking: a plain value every layer may hold.

An `Actor` is made by identity.access from an employee row; it carries the roles and
the departments the person oversees, nothing that needs the database. It lives apart
from the rules so that anything can name it without importing what those rules need.
"""
from __future__ import annotations

from dataclasses import dataclass

from services.errors import PermissionDenied


@dataclass(frozen=True)
class Actor:
    username: str
    department_key: str
    roles: frozenset[str]
    supervised: frozenset[str]  # departments this person heads or manages, with their subtrees

    @classmethod
    def operator(cls, username: str) -> "Actor":
        """Whoever operates the deployment (its command line, the jobs queued from it): HR
        and admin rights, audited under `username`."""
        return cls(username, "", frozenset({"hr", "admin"}), frozenset())

    @property
    def overseen(self) -> frozenset[str]:
        """Departments whose tasks this person may see."""
        return self.supervised | {self.department_key}

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise PermissionDenied(f"this needs one of the roles: {', '.join(roles)}")

"""Routing a duty to persons: `camunda:assignee` and `camunda:candidateUsers`.

The engine knows the org only as an `OrgSnapshot`: who belongs to which department,
each department's head and parent, and which lane or group names route to which
department. The service builds it from its directory (one per org revision) and a
sandbox worker keeps the latest it was sent, so assignee expressions such as
`${manager_of(starter)}` run inside the worker like every other diagram expression.

The membership rule (a person named by a duty must belong to a department that owns
it) is defined here once: the loader applies it to literal usernames at deploy time,
the step to the persons an expression names at run time.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import sandbox
from .model import DutySpec

# How many persons one candidateUsers expression may name.
MAX_CANDIDATES = 100


class RoutingError(Exception):
    """A duty's assignee or candidate users could not be resolved to members of the org."""


@dataclass(frozen=True)
class OrgSnapshot:
    """The org as routing needs it; plain data, sent to sandbox workers as JSON.

    `people`: username -> department key (active employees); `departments`: key ->
    (parent key, head username) (active departments); `routes`: lane or group name ->
    department key. `revision` is the org revision it was read at.
    """

    revision: str | None
    people: Mapping[str, str]
    departments: Mapping[str, tuple[str | None, str | None]]
    routes: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "people": dict(self.people),
                "departments": {key: list(value) for key, value in self.departments.items()},
                "routes": dict(self.routes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "OrgSnapshot":
        return cls(data["revision"], dict(data["people"]),
                   {key: (parent, head) for key, (parent, head) in data["departments"].items()},
                   dict(data["routes"]))

    # The org functions diagram expressions may call.

    def department_of(self, username: Any) -> str | None:
        return self.people.get(username) if isinstance(username, str) else None

    def head_of(self, department_key: Any) -> str | None:
        found = self.departments.get(department_key) if isinstance(department_key, str) else None
        return found[1] if found else None

    def manager_of(self, username: Any) -> str | None:
        """The head of the person's department; for its head, the head of the parent."""
        department = self.department_of(username)
        while department is not None:
            parent, head = self.departments.get(department, (None, None))
            if head is not None and head != username:
                return head
            department = parent
        return None

    def functions(self) -> dict[str, Any]:
        return {"head_of": self.head_of, "manager_of": self.manager_of,
                "department_of": self.department_of}

    # The membership rule.

    def owner_departments(self, owner_names: Iterable[str]) -> set[str]:
        return {self.routes[name] for name in owner_names if name in self.routes}

    def membership_problem(self, username: str, owner_names: tuple[str, ...]) -> str | None:
        """Why `username` may not be given a duty owned by `owner_names` (its lane and
        candidate groups), or None. A duty with no owner names is owned by the
        departments of the persons it names, so any member of the org will do."""
        department = self.people.get(username)
        if department is None:
            return f"{username!r} is not an active person in the org"
        if owner_names:
            owners = self.owner_departments(owner_names)
            if department not in owners:
                return (f"{username!r} belongs to department {department!r}, which does not "
                        f"own this task (owners: {', '.join(sorted(owners)) or 'none'})")
        return None


def is_expression(text: str | None) -> bool:
    return text is not None and sandbox.wrapped_body(text) is not None


def literal_users(text: str | None) -> tuple[str, ...]:
    """A Camunda comma list of usernames, blanks dropped (empty for an expression)."""
    if not text or is_expression(text):
        return ()
    return tuple(name.strip() for name in text.split(",") if name.strip())


def resolve(duty: DutySpec, data: Mapping[str, Any], org: OrgSnapshot | None
            ) -> tuple[str | None, tuple[str, ...]]:
    """(assignee, candidate users) of a task of `duty` that just became ready, with the
    task's data. Raises RoutingError when an expression fails, yields something that is
    not a username, or names someone the membership rule refuses."""
    if duty.assignee is None and duty.candidate_users is None:
        return None, ()
    if org is None:
        raise RoutingError("the org is not known to this step")
    assignee = None
    if duty.assignee is not None:
        value = _evaluate(duty.assignee, data, org, "assignee")
        if not isinstance(value, str) or not value.strip():
            raise RoutingError(f"assignee {duty.assignee!r} gave {value!r}, not a username")
        assignee = value.strip()
    candidates: tuple[str, ...] = ()
    if duty.candidate_users is not None:
        candidates = _candidates(duty.candidate_users, data, org)
    for username in dict.fromkeys((*((assignee,) if assignee else ()), *candidates)):
        problem = org.membership_problem(username, duty.owners)
        if problem:
            kind = "assignee" if username == assignee else "candidate user"
            raise RoutingError(f"{kind} {problem}")
    return assignee, candidates


def _candidates(text: str, data: Mapping[str, Any], org: OrgSnapshot) -> tuple[str, ...]:
    if not is_expression(text):
        return literal_users(text)
    value = _evaluate(text, data, org, "candidateUsers")
    if isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    if not isinstance(value, (list, tuple)) or \
            not all(isinstance(name, str) and name.strip() for name in value):
        raise RoutingError(f"candidateUsers {text!r} gave {value!r}, not a list of usernames")
    if len(value) > MAX_CANDIDATES:
        raise RoutingError(f"candidateUsers {text!r} named {len(value)} persons; "
                           f"the limit is {MAX_CANDIDATES}")
    return tuple(dict.fromkeys(name.strip() for name in value))


def _evaluate(text: str, data: Mapping[str, Any], org: OrgSnapshot, what: str) -> Any:
    if not is_expression(text):
        return text.strip()
    try:
        return sandbox.evaluate(text, data, org.functions())
    except sandbox.SandboxError as err:
        raise RoutingError(f"{what} {text!r}: {err}") from None

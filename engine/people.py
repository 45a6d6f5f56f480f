"""Routing a duty to persons and groups: `camunda:assignee`, `camunda:candidateUsers`
and `camunda:candidateGroups` given by an expression (and Zeebe's assignmentDefinition).

The engine knows the org only as an `OrgSnapshot`: who belongs to which department,
each department's head and parent, and which lane or group names route to which
department. The service builds it from its directory (one per org revision) and a
sandbox worker keeps the latest it was sent, so assignee expressions such as
`${manager_of(starter)}` run inside the worker like every other diagram expression.

The membership rule (a person named by a duty must belong to a department that owns
it) is defined here once: the loader applies it to literal usernames at deploy time,
the step to the persons an expression names at run time. Groups an expression gives
route by `routes`, the same table literal lanes and groups route by; a group routing
nowhere is a RoutingError (an incident), never a task nobody may do.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import expressions, sandbox
from .model import DutySpec

# How many persons one candidateUsers expression may name (and groups one candidateGroups).
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


@dataclass(frozen=True)
class Routing:
    """Who a task that just became ready goes to, beyond its drawn owners: the person it
    is assigned to, the only persons who may claim it, and the group names an expression
    gave (each routes to a department of the org)."""

    assignee: str | None = None
    candidate_users: tuple[str, ...] = ()
    candidate_groups: tuple[str, ...] = ()


def is_expression(text: str | None) -> bool:
    """One expression: `${...}` (Python or JUEL), `#{...}` (JUEL) or `=...` (FEEL)."""
    if text is None:
        return False
    stripped = text.strip()
    return sandbox.wrapped_body(stripped) is not None or stripped.startswith("=") or \
        (stripped.startswith("#{") and stripped.endswith("}"))


def literal_users(text: str | None) -> tuple[str, ...]:
    """A Camunda comma list of usernames, blanks dropped (empty for an expression)."""
    if not text or is_expression(text):
        return ()
    return tuple(name.strip() for name in text.split(",") if name.strip())


def resolve(duty: DutySpec, data: Mapping[str, Any], org: OrgSnapshot | None) -> Routing:
    """The Routing of a task of `duty` that just became ready, with the task's data.
    Raises RoutingError when an expression fails, yields something that is not a username
    (a group name), names a group that routes to no department, or names someone the
    membership rule refuses."""
    if not duty.routes_at_run_time:
        return Routing()
    if org is None:
        raise RoutingError("the org is not known to this step")
    groups: tuple[str, ...] = ()
    if duty.group_expression is not None:
        groups = _groups(duty.group_expression, data, org)
    assignee = None
    if duty.assignee is not None:
        value = _evaluate(duty.assignee, data, org, "assignee")
        if not isinstance(value, str) or not value.strip():
            raise RoutingError(f"assignee {duty.assignee!r} gave {value!r}, not a username")
        assignee = value.strip()
    candidates: tuple[str, ...] = ()
    if duty.candidate_users is not None:
        candidates = _names(duty.candidate_users, data, org, "candidateUsers", "usernames")
    owners = duty.owners + groups
    if duty.group_expression is not None and not owners and assignee is None \
            and not candidates:
        raise RoutingError(f"candidateGroups {duty.group_expression!r} gave no group, and "
                           "the task has no lane nor person: nobody could do it")
    for username in dict.fromkeys((*((assignee,) if assignee else ()), *candidates)):
        problem = org.membership_problem(username, owners)
        if problem:
            kind = "assignee" if username == assignee else "candidate user"
            raise RoutingError(f"{kind} {problem}")
    return Routing(assignee, candidates, groups)


def _groups(text: str, data: Mapping[str, Any], org: OrgSnapshot) -> tuple[str, ...]:
    """The group names a candidateGroups expression gives, each routing to a department
    exactly as a literal candidate group does."""
    groups = _names(text, data, org, "candidateGroups", "group names")
    for name in groups:
        if name not in org.routes:
            raise RoutingError(f"candidateGroups {text!r} gave {name!r}, which names no "
                               "department (matched against department keys, names and lanes)")
    return groups


def _names(text: str, data: Mapping[str, Any], org: OrgSnapshot, what: str,
           kind: str) -> tuple[str, ...]:
    """A comma list as written, or what an expression gives: a list of names or one comma
    list (as Camunda accepts both)."""
    if not is_expression(text):
        return literal_users(text)
    value = _evaluate(text, data, org, what)
    if isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    if not isinstance(value, (list, tuple)) or \
            not all(isinstance(name, str) and name.strip() for name in value):
        raise RoutingError(f"{what} {text!r} gave {_shown(value)}, not a list of {kind}")
    if len(value) > MAX_CANDIDATES:
        raise RoutingError(f"{what} {text!r} named {len(value)} {kind}; "
                           f"the limit is {MAX_CANDIDATES}")
    return tuple(dict.fromkeys(name.strip() for name in value))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _evaluate(text: str, data: Mapping[str, Any], org: OrgSnapshot, what: str) -> Any:
    if not is_expression(text):
        return text.strip()
    try:
        return expressions.evaluate(text.strip(), data, org.functions())
    except sandbox.SandboxError as err:
        raise RoutingError(f"{what} {text!r}: {err}") from None

"""The org file's format: marshmallow schemas for an entry of either section, then the rules
that need the whole file (keys unique, parents and heads exist, lanes route to one place).

Every problem is reported as `file:line: path: message`, the line found from the YAML
nodes, so whoever edits the file can fix them all in one pass.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import yaml
from marshmallow import Schema, ValidationError, fields, pre_load, validates_schema

from engine.deadlines import is_duration
from payroll.documents import Checked, error_paths
from payroll.money import CENT
from services.errors import InvalidInput

ROLES = ("staff", "manager", "designer", "hr", "admin", "integration")
LOCALES = ("en", "zh-CN")
ROBOT_KINDS = ("dingtalk",)
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_MESSAGE = "required: letters, digits, '_', '.', '-' (at most 64)"
_MONEY_MESSAGE = "required: a non-negative amount with at most 2 decimals, quoted, e.g. \"8000.00\""
_SECTIONS = ("departments", "employees")


def _key(value: Any) -> str | None:
    return value if isinstance(value, str) and _KEY.match(value) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _texts(value: Any) -> list | None:
    return value if isinstance(value, list) and all(_text(item) for item in value) else None


def _roles(value: Any) -> list | None:
    return value if isinstance(value, list) and value and all(
        role in ROLES for role in value) else None


def _password(value: Any) -> str | int | None:
    return value if isinstance(value, (str, int)) and str(value) else None


def _email(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 320 and _EMAIL.match(value) else None


def _locale(value: Any) -> str | None:
    return value if value in LOCALES else None


def _url(value: Any) -> str | None:
    """An http(s) URL with a host; its text is never echoed back (it may hold a token)."""
    if not isinstance(value, str) or len(value) > 2000 or any(c.isspace() for c in value):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.hostname else None


def _secret(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() and len(value) <= 500 else None


def _duration(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and is_duration(value) else None


def _money(value: Any) -> Decimal | None:
    if isinstance(value, float) or value is None or isinstance(value, bool):
        return None  # floats have already lost cents; insist on quoted strings
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        return None
    return amount.quantize(CENT)


class _Entry(Schema):
    """An entry of either section: a mapping with known keys."""

    error_messages = {"type": "must be a mapping", "unknown": "unknown key"}


class _RobotSchema(_Entry):
    kind = Checked(lambda value: value if value in ROBOT_KINDS else None,
                   f"required: one of {', '.join(ROBOT_KINDS)}", required=True)
    url = Checked(_url, "required: an http(s) URL", required=True)
    secret = Checked(_secret, "required: the robot's signing secret (a non-empty string)",
                     required=True)


class _NotifySchema(_Entry):
    """Where a department's notifications go besides its members: a webhook, a group robot."""

    webhook = Checked(_url, "must be an http(s) URL")
    secret = Checked(_secret, "must be a non-empty string (the webhook's HMAC key)")
    robot = fields.Nested(_RobotSchema)
    locale = Checked(_locale, f"must be one of {', '.join(LOCALES)}")

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _webhook_needs_secret(self, data: dict, original: Any, **kwargs) -> None:
        given = original if isinstance(original, Mapping) else {}
        if "webhook" in given and "secret" not in given:
            raise ValidationError("required with webhook: the key the body is signed with",
                                  "secret")
        if "secret" in given and "webhook" not in given:
            raise ValidationError("required with secret: the URL to post to", "webhook")


class _DepartmentSchema(_Entry):
    key = Checked(_key, _KEY_MESSAGE, required=True)
    name = Checked(_text, "required", required=True)
    parent = fields.Raw(allow_none=True)
    head = fields.Raw(allow_none=True)
    lanes = Checked(_texts, "must be a list of non-empty strings", allow_none=True)
    duties = Checked(_texts, "must be a list of non-empty strings", allow_none=True)
    notify = fields.Nested(_NotifySchema, allow_none=True)
    remind_after = Checked(_duration, "must be an ISO 8601 duration, e.g. PT4H or P1D",
                           allow_none=True)
    escalate_after = Checked(_duration, "must be an ISO 8601 duration, e.g. PT4H or P1D",
                             allow_none=True)


class _EmployeeSchema(_Entry):
    username = Checked(_key, _KEY_MESSAGE, required=True)
    name = Checked(_text, "required", required=True)
    department = fields.Raw(allow_none=True)
    position = fields.Raw(allow_none=True)
    manager = fields.Raw(allow_none=True)
    roles = Checked(_roles, f"must be a non-empty list of {', '.join(ROLES)}")
    base_salary = Checked(_money, _MONEY_MESSAGE, required=True)
    bonus_base = Checked(_money, _MONEY_MESSAGE, required=True)
    password = Checked(_password, "must be a non-empty string")
    email = Checked(_email, "must be an email address, e.g. li.na@example.com", allow_none=True)
    locale = Checked(_locale, f"must be one of {', '.join(LOCALES)}", allow_none=True)


class _OrgSchema(Schema):
    """The file: its two sections, each a list of entries (absent or empty: none)."""

    error_messages = {"unknown": "unknown top-level key"}

    departments = fields.List(fields.Nested(_DepartmentSchema))
    employees = fields.List(fields.Nested(_EmployeeSchema))

    @pre_load
    def _absent_sections_are_empty(self, document: Any, **kwargs) -> Any:
        return {**document, **{section: document.get(section) or [] for section in _SECTIONS}}


# Where a problem is: (order in the source, the label the message starts with).
Locate = Callable[[str], tuple[Any, str]]


def parse_org(text: str, filename: str) -> tuple[list[dict], list[dict]]:
    """Parse and validate an org file; raise InvalidInput listing every problem with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        raise InvalidInput(f"{filename}:{line}: invalid YAML: {getattr(err, 'problem', err)}",
                           [f"{filename}:{line}: invalid YAML"]) from None
    lines = _line_index(node)

    def locate(path: str) -> tuple[int, str]:
        line = lines.get(path, lines.get(path.rsplit(".", 1)[0]))
        return line or 0, f"{filename}:{line or '?'}: {path}"

    return check_org(document, filename, locate)


def check_org(document: Any, filename: str, locate: Locate) -> tuple[list[dict], list[dict]]:
    """Validate an org document (the YAML file's, or one read from a spreadsheet, see
    services.org.org_sheets): the sections' entries, then the rules across them. Raise
    InvalidInput listing every problem, each labelled by `locate(path)` and in its order."""
    if not isinstance(document, Mapping):
        raise InvalidInput(f"{filename}:1: the file must be a mapping with departments and employees")
    try:
        loaded, errors = _OrgSchema().load(document), {}
    except ValidationError as err:
        loaded, errors = err.valid_data, error_paths(err.messages)
    if any(section in errors for section in _SECTIONS):  # a section's own error: no list
        raise InvalidInput(f"{filename}: departments and employees must be lists")
    departments, employees = loaded.get("departments", []), loaded.get("employees", [])
    found = [(path, message) for path, messages in errors.items() for message in messages]
    found += _whole_file_problems(departments, employees, refused=set(errors))
    at = {path: locate(path) for path, _ in found}
    # In file order, as the person fixing them reads it (the sort is stable within a line).
    found.sort(key=lambda problem: at[problem[0]][0])
    problems = [f"{at[path][1]}: {message}" for path, message in found]
    if problems:
        raise InvalidInput(f"{filename}: {len(problems)} problem(s)\n" + "\n".join(problems), problems)
    return departments, employees


def _whole_file_problems(departments: list[dict], employees: list[dict], refused: set[str]
                         ) -> list[tuple[str, str]]:
    """(path, message) for each rule across entries, given what the schemas loaded;
    `refused` holds the paths of entries that are no mapping, which have nothing to compare."""
    keys, found = _department_problems(departments)
    usernames: set[str] = set()
    for index, spec in enumerate(employees):
        path = f"employees[{index}]"
        if path in refused:
            continue
        username = spec.get("username")
        if username in usernames:
            found.append((f"{path}.username", f"duplicate username {username!r}"))
        elif username is not None:
            usernames.add(username)
        if spec.get("department") not in keys:
            found.append((f"{path}.department", f"{spec.get('department')!r} is not a department key"))
    for section, entries, person in (("employees", employees, "manager"),
                                     ("departments", departments, "head")):
        for index, spec in enumerate(entries):
            if spec.get(person) and spec[person] not in usernames:
                found.append((f"{section}[{index}].{person}",
                              f"{spec[person]!r} is not an employee in this file"))
    return found


def _department_problems(departments: list[dict]) -> tuple[set[str], list[tuple[str, str]]]:
    """The department keys, and the problems of keys, lanes and parents across departments."""
    found: list[tuple[str, str]] = []
    keys: set[str] = set()
    routes: dict[str, str] = {}
    for index, spec in enumerate(departments):
        key, path = spec.get("key"), f"departments[{index}]"
        if key is None:
            continue  # its key was refused; nothing can route to it
        if key in keys:
            found.append((f"{path}.key", f"duplicate department key {key!r}"))
        keys.add(key)
        for route in {key, spec.get("name", key), *(spec.get("lanes") or [])}:
            if routes.setdefault(route, key) != key:
                found.append((path, f"lane name {route!r} would route to both "
                                    f"{routes[route]!r} and {key!r}"))
    parents = {spec["key"]: spec.get("parent") for spec in departments if "key" in spec}
    for index, spec in enumerate(departments):
        if spec.get("parent") is not None:
            if spec["parent"] not in keys:
                found.append((f"departments[{index}].parent",
                              f"{spec['parent']!r} is not a department key"))
            elif _has_cycle(spec.get("key"), parents):
                found.append((f"departments[{index}].parent",
                              "parent chain loops back to this department"))
    return keys, found


def _has_cycle(start: str | None, parents: dict[str, str | None]) -> bool:
    seen, current = set(), start
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def _line_index(node: yaml.Node | None, path: str = "", out: dict | None = None) -> dict[str, int]:
    """Map `departments[0].key`-style paths to 1-based source lines."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            out[child] = key_node.start_mark.line + 1
            _line_index(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_index(item, f"{path}[{index}]", out)
    return out

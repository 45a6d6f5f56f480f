"""The REST API, /api/v1: a thin layer that authenticates, parses and calls services."""
from __future__ import annotations

import functools
import json
import math
from typing import Any

import marshmallow
from flask import Blueprint, current_app, g, request
from werkzeug.routing import IntegerConverter

from services.errors import InvalidInput, NotAuthenticated, NotFound
from services.identity.actor import Actor
from services.identity.auth import authenticate
from services.persistence.unit_of_work import Store

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.issue_token", "api.openapi"}
MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL
MAX_DEPTH = 32  # of nested JSON in a request; forms and queries are flat


class IdConverter(IntegerConverter):
    """`<int:...>` in paths: a number no INTEGER column can hold matches no route.

    Such an id cannot exist, so the answer is a 404; passed on, PostgreSQL would refuse
    it as out of range and SQLite anything past 64 bits, both as a 500.
    """

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


@bp.record_once
def bound_path_ids(state) -> None:
    """Installed app-wide before this blueprint's routes are added, so every `<int:...>` of
    theirs is bounded, and of blueprints registered after it (web/app.py: the pages)."""
    state.app.url_map.converters["int"] = IdConverter


def store() -> Store:
    return current_app.extensions["dutyflow_store"]


@bp.before_request
def require_token() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send Authorization: Bearer <token> (POST /api/v1/auth/token)")
    with store().reading() as uow:
        g.actor = authenticate(uow, token.strip())


@bp.before_request
def refuse_nul_in_path() -> None:
    """A path value with a NUL character names nothing: 404, rather than the 500 PostgreSQL
    gives when asked to look it up. Registered after require_token, so 401 comes first."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and unstorable(value):
            raise NotFound(f"nothing is named {value!r}")


def actor() -> Actor:
    return g.actor


def unstorable(value: Any) -> str | None:
    """Why no database would store this JSON value as sent, or None when it is fine.

    PostgreSQL refuses NUL characters that SQLite keeps, unpaired surrogates are not
    UTF-8 for either, and nesting deeper than MAX_DEPTH is more than any form needs.
    Iterative, so deep nesting cannot overflow the stack.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"Nested deeper than {MAX_DEPTH} levels."
        if isinstance(item, str):
            if "\x00" in item:
                return "May not contain NUL characters."
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "Not valid Unicode text (unpaired surrogate)."
        elif isinstance(item, dict):
            stack.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list):
            stack.extend((part, depth + 1) for part in item)
    return None


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def request_json() -> Any:
    """The body as strict JSON, or None when it is not JSON.

    Flask's parser takes NaN and Infinity (and turns 1e400 into one), which JSON lacks:
    PostgreSQL refuses them and SQLite would echo them back as invalid JSON. It also
    fails on deep nesting with a RecursionError instead of a ValueError.
    """
    if not request.is_json:
        return None
    try:
        return json.loads(request.get_data(), parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        return None


def check_storable(data: Any) -> None:
    """422 naming each top-level field whose value no database stores as sent."""
    if isinstance(data, dict):
        errors = {(key if not unstorable(key) else "_schema"): [problem]
                  for key, value in data.items() if (problem := unstorable([key, value]))}
    else:
        errors = {"_schema": [problem]} if (problem := unstorable(data)) else {}
    if errors:
        raise InvalidInput("the request holds values that cannot be stored", errors)


@functools.cache
def _schema(schema_class: type[marshmallow.Schema]) -> marshmallow.Schema:
    """One instance per schema class: building one per request costs more than the load."""
    return schema_class()


def load(schema_class: type[marshmallow.Schema], data: Any | None = None) -> dict[str, Any]:
    """Validate a request body (or query) against a schema; 422 with per-field errors."""
    if data is None:
        data = request_json()
        if data is None:
            raise InvalidInput("the request body must be a JSON object",
                               {"_schema": ["Expected application/json (strict JSON: no NaN "
                                            "or Infinity)."]})
    check_storable(data)
    try:
        return _schema(schema_class).load(data)
    except marshmallow.ValidationError as err:
        raise InvalidInput("the request is invalid", err.messages) from None


from . import (  # noqa: E402,F401
    audit_routes,
    auth_routes,
    definition_routes,
    external_task_routes,
    event_routes,
    incident_routes,
    instance_routes,
    migration_routes,
    notification_routes,
    org_routes,
    payroll_routes,
    task_routes,
)

"""The REST API, /api/v1: a thin layer that authenticates, parses and calls services."""
from __future__ import annotations

from typing import Any

import marshmallow
from flask import Blueprint, current_app, g, request
from werkzeug.routing import IntegerConverter

from services.access import Actor, actor_for
from services.auth import authenticate
from services.errors import InvalidInput, NotAuthenticated
from services.unit_of_work import Store

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.issue_token", "api.openapi"}
MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL


class IdConverter(IntegerConverter):
    """`<int:...>` in API paths: a number no INTEGER column can hold matches no route.

    Such an id cannot exist, so the answer is a 404; passed on, PostgreSQL would refuse
    it as out of range and SQLite anything past 64 bits, both as a 500.
    """

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


@bp.record_once
def bound_path_ids(state) -> None:
    """Runs before this blueprint's routes are added, so every `<int:...>` of theirs is bounded."""
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
        g.actor = actor_for(uow, authenticate(uow, token.strip()))


def actor() -> Actor:
    return g.actor


def load(schema: marshmallow.Schema, data: Any | None = None) -> dict[str, Any]:
    """Validate a request body (or query) against a schema; 422 with per-field errors."""
    if data is None:
        data = request.get_json(silent=True)
        if data is None:
            raise InvalidInput("the request body must be a JSON object",
                               {"_schema": ["Expected application/json."]})
    try:
        return schema.load(data)
    except marshmallow.ValidationError as err:
        raise InvalidInput("the request is invalid", err.messages) from None


from . import (auth_routes, definition_routes, instance_routes, org_routes,  # noqa: E402,F401
               payroll_routes, task_routes)

"""Sign-in and the API description."""
from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify

from services.errors import PermissionDenied
from services.identity.auth import issue_token
from services.workflow.views import iso

from . import bp, store
from .contract import operation
from .schemas import TokenRequest, TokenResponse


@bp.post("/auth/token", endpoint="issue_token")
@operation({200: TokenResponse}, body=TokenRequest, problems=(401, 403, 422, 429))
def issue_token_route(body: dict):
    """Exchange username and password for a bearer token (failures rate-limited: 429)."""
    settings = current_app.config["DUTYFLOW_SETTINGS"]
    if not settings.password_sign_in:
        raise PermissionDenied("password sign-in is switched off: sign in on the pages with "
                               "your company account and create an API token there")
    ttl = dt.timedelta(hours=settings.token_ttl_hours)
    with store().writing() as uow:
        token, expires_at = issue_token(uow, body["username"], body["password"], ttl)
    return {"token": token, "expires_at": iso(expires_at)}


@bp.get("/openapi.json", endpoint="openapi")
def openapi():
    """The OpenAPI 3 document of this API (no sign-in needed)."""
    from web.openapi import build_spec
    return jsonify(build_spec(current_app))

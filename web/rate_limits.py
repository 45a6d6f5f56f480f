"""Failed sign-ins are limited per account and per client address (Flask-Limiter).

Only failures count (a 401 answer), so an office behind one address signing in every
morning is never slowed; guessing is. Both the sign-in page and the API's token endpoint
share the same counters, so switching between them gains an attacker nothing. Past a
limit every attempt, right or wrong, gets 429 with Retry-After until the moving one-minute
window has room again. Counters live in Redis when DUTYFLOW_RATELIMIT_STORAGE_URL is set
(shared by every process and restart), in this process's memory otherwise.
"""
from __future__ import annotations

import math
import time

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from services.settings import Settings

from .errors import problem

PER_ACCOUNT = "10 per minute"
PER_ADDRESS = "30 per minute"
SIGN_IN_ENDPOINTS = ("pages.sign_in", "api.issue_token")


def init_rate_limits(app: Flask, settings: Settings) -> None:
    """Call after the blueprints are registered: it wraps their sign-in views.

    A Limiter of each app's own, not one at module level decorating the views where they
    are defined: every app (the tests build many) then keeps its own counters. Its limits
    are checked before the sign-in views only: checked before every request (Flask-Limiter's
    default), finding that nothing else is limited cost a task completion 7 % of its CPU."""
    limiter = Limiter(get_remote_address, app=app, strategy="moving-window",
                      storage_uri=settings.ratelimit_storage_url or "memory://",
                      # Redis down: count in memory meanwhile rather than refuse all sign-ins.
                      in_memory_fallback_enabled=bool(settings.ratelimit_storage_url),
                      auto_check=False)
    per_account = limiter.shared_limit(PER_ACCOUNT, scope="sign-in-account", methods=["POST"],
                                       key_func=_submitted_account, deduct_when=_failed)
    per_address = limiter.shared_limit(PER_ADDRESS, scope="sign-in-address", methods=["POST"],
                                       deduct_when=_failed)
    for endpoint in SIGN_IN_ENDPOINTS:
        app.view_functions[endpoint] = per_account(per_address(app.view_functions[endpoint]))

    @app.before_request
    def limit_sign_ins() -> None:
        if request.endpoint in SIGN_IN_ENDPOINTS:
            limiter.check()
    app.register_error_handler(RateLimitExceeded, lambda err: _too_many(limiter))


def _submitted_account() -> str:
    """The username tried, from the form or the API's JSON body; never empty (an empty key
    would make Flask-Limiter skip the limit)."""
    body = request.get_json(silent=True) if request.is_json else None
    username = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return "account:" + (username if isinstance(username, str) else "").strip().casefold()


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _too_many(limiter: Limiter) -> Response:
    wait = max(1, math.ceil(limiter.current_limit.reset_at - time.time()))
    if request.blueprint == "api":
        response = problem(429, "Too many requests",
                           f"too many failed sign-ins; try again in {wait} seconds")
    else:
        page = render_template("sign_in.html", error=_(
            "Too many failed sign-ins. Try again in %(seconds)d seconds.", seconds=wait))
        response = Response(page, status=429, mimetype="text/html")
    response.headers["Retry-After"] = str(wait)
    return response

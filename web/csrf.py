"""CSRF protection of every page POST, by Flask-WTF.

Forms send the token as the hidden `csrf_token` field (`{{ csrf_token() }}`), scripts as
the `X-CSRF-Token` header (web/static/modeler.js). The token lives in the session, so
signing in or out, which starts a fresh session, also starts a fresh token. The REST API
is exempt: it never reads the session cookie (web/sessions.py) and authenticates each call
with a bearer token, which no other site can make a browser send.
"""
from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect


def init_csrf(app: Flask, api: Blueprint) -> None:
    app.config["WTF_CSRF_HEADERS"] = ["X-CSRFToken", "X-CSRF-Token"]
    # Valid for the whole session rather than an hour: a designer may edit a diagram in
    # the modeler for longer and must not lose the work to an expired token on deploy.
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    protect = CSRFProtect(app)
    protect.exempt(api)
    app.register_error_handler(CSRFError, refused)


def refused(err: CSRFError):
    """A translated page, not Flask-WTF's English reason: a person reads it."""
    return render_template(
        "error.html", status=400, title=_("Bad request"),
        detail=_("The form expired or did not come from DutyFlow; reload the page and try again.")
    ), 400

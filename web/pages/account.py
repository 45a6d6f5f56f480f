"""Signing in and out, and the language switch."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from services.errors import NotAuthenticated
from services.identity.auth import check_password
from services.identity.credentials import sign_out_everywhere

from ..i18n import LANGUAGES
from . import bp, end_session, start_session, store
from .redirects import safe_next


@bp.get("/")
def home():
    if session.get("username"):
        return redirect(url_for("pages.inbox"))
    return redirect(url_for("pages.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Rate-limited per account and per address (web/rate_limits.py)."""
    error = None
    if request.method == "POST" and not _settings().password_sign_in:
        error = _("Password sign-in is switched off: sign in with your company account.")
    elif request.method == "POST":
        username = request.form.get("username", "").strip()
        try:
            with store().reading() as uow:
                employee = check_password(uow, username, request.form.get("password", ""))
                version = employee.credential_version
        except NotAuthenticated:
            error = _("Unknown username or wrong password.")
        else:
            start_session(username, version)
            return redirect(safe_next(request.args.get("next")))
    return render_template("sign_in.html", error=error), 401 if error else 200


def _settings():
    return current_app.config["DUTYFLOW_SETTINGS"]


@bp.post("/sign-out")
def sign_out():
    """Signs out everywhere: a copy of this cookie, other browsers and API tokens included,
    since a cookie cannot be taken back from wherever it was copied to."""
    if g.page_actor is not None:
        with store().writing() as uow:
            sign_out_everywhere(uow, g.page_actor.username)
    end_session()
    flash(_("You are signed out."))
    return redirect(url_for("pages.sign_in"))


@bp.post("/language")
def switch_language():
    if request.form.get("lang") in LANGUAGES:
        session["lang"] = request.form["lang"]
    return redirect(safe_next(request.form.get("next")))

"""Signing in and out, and the language switch."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from services.auth import check_password
from services.errors import NotAuthenticated

from . import bp, store
from ..i18n import LANGUAGES


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.inbox")


@bp.get("/")
def home():
    if session.get("username"):
        return redirect(url_for("pages.inbox"))
    return redirect(url_for("pages.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        try:
            with store().reading() as uow:
                check_password(uow, username, request.form.get("password", ""))
        except NotAuthenticated:
            error = _("Unknown username or wrong password.")
        else:
            lang = session.get("lang")
            session.clear()  # a fresh session on sign-in: no fixation
            session["username"] = username
            if lang:
                session["lang"] = lang
            return redirect(_safe_next(request.args.get("next")))
    return render_template("sign_in.html", error=error), 401 if error else 200


@bp.post("/sign-out")
def sign_out():
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You are signed out."))
    return redirect(url_for("pages.sign_in"))


@bp.post("/language")
def switch_language():
    if request.form.get("lang") in LANGUAGES:
        session["lang"] = request.form["lang"]
    return redirect(_safe_next(request.form.get("next")))

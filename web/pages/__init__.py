"""Server-rendered pages: the same services as the API, behind a session cookie.

Sessions are Flask's signed cookie (HttpOnly, SameSite=Lax) and hold the employee's
credential version: a new password or a sign-out ends every copy of it. Every POST
carries Flask-WTF's CSRF token (web/csrf.py). Rules stay in services/: pages only ask.
"""
from __future__ import annotations

import functools

from flask import Blueprint, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

from services.errors import (Busy, Conflict, InvalidInput, NotAuthenticated, NotFound,
                             PermissionDenied, ServiceError)
from services.identity.access import active_employee, actor_for
from services.identity.actor import Actor
from services.notify.inbox import unread_count
from services.org.department_names import department_in_language, own_name
from services.persistence.unit_of_work import Store, UnitOfWork
from services.workflow.labels import Labels, labels_for

from .field_messages import field_errors

bp = Blueprint("pages", __name__)


def store() -> Store:
    return current_app.extensions["dutyflow_store"]


@bp.before_request
def refuse_nul_characters() -> None:
    """No identifier or form value legitimately holds NUL; PostgreSQL would refuse it (a 500)."""
    if "\x00" in request.path:
        abort(404)
    values = [*request.args.values(), *(request.form.values() if request.form else [])]
    if any("\x00" in value for value in values):
        abort(400, description="The request contains a NUL character.")


@bp.before_app_request
def load_signed_in_user() -> None:
    g.page_actor = None
    g.page_employee = None
    if request.blueprint != "pages":
        return
    username = session.get("username")
    if not username:
        return
    with store().reading() as uow:
        try:
            employee = active_employee(uow, username)
        except PermissionDenied:  # left or deactivated since signing in
            end_session()
            return
        if session.get("credential_version") != employee.credential_version:
            end_session()  # a new password or a sign-out since this cookie was issued
            return
        g.page_actor = actor_for(uow, employee)
        g.page_employee = {"username": employee.username, "name": employee.name,
                           "department": department_in_language(  # in the header
                               employee.department_key, own_name(uow, employee.department_key),
                               page_locale()),
                           "unread": unread_count(uow, employee.username)}  # the bell


def start_session(username: str, credential_version: int) -> None:
    """A fresh session (no fixation) for someone just signed in; the language stays."""
    end_session()
    session["username"] = username
    session["credential_version"] = credential_version


def end_session() -> None:
    """Forget who is signed in (and the CSRF token with it); the language stays."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def page_actor() -> Actor:
    if g.page_actor is None:
        raise NotAuthenticated("sign in first")
    return g.page_actor


# What a refusal means, in the reader's language; the service's own words follow as details.
_REFUSALS = [(NotFound, _l("That does not exist, or you may not see it.")),
             (PermissionDenied, _l("You may not do this.")),
             (Conflict, _l("This changed meanwhile or is in another state; reload and try again.")),
             (InvalidInput, _l("This was not accepted; check what you entered.")),
             (Busy, _l("DutyFlow is busy; try again in a moment."))]


def flash_refusal(err: ServiceError) -> None:
    """Flash why something was refused: a translated sentence, then the details, in the
    page's language too where the service worded them as a template (services.errors)."""
    reason = next((text for kind, text in _REFUSALS if isinstance(err, kind)),
                  _l("That could not be done."))
    flash(gettext("%(reason)s Details: %(detail)s", reason=str(reason),
                  detail=err.in_language(gettext)), "error")


def refused_fields(err: InvalidInput) -> dict:
    """An InvalidInput's field errors for a form page, in the page's language; a refusal
    without them under `_schema`."""
    if isinstance(err.errors, dict) and err.errors:
        return field_errors(err.errors, gettext)
    return {"_schema": [err.in_language(gettext)]}


def page_locale() -> str:
    """The page's language as a tag (`en`, `zh`), for names a diagram translates."""
    return str(get_locale() or "en")


def page_labels(uow: UnitOfWork, instance_ids=(), all_processes: bool = True) -> Labels:
    """Names of processes, steps, form fields and departments in the page's language."""
    return labels_for(uow, page_locale(), instance_ids, all_processes)


def signed_in(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("page_actor") is None:
            return redirect(url_for("pages.sign_in", next=request.full_path))
        return view(*args, **kwargs)
    return wrapper


# (endpoint, label, roles that see it; None = everyone signed in)
NAV = [("pages.my_performance", _l("My performance"), None),
       ("pages.designer", _l("Designer"), {"designer", "admin"}),
       ("pages.incidents", _l("Incidents"), {"designer", "admin"}),
       ("pages.org_chart", _l("Organisation"), None),
       ("pages.dashboard", _l("Dashboard"), {"manager", "hr", "admin"}),
       ("pages.hr_home", _l("HR"), {"hr", "admin"}),
       ("pages.deliveries", _l("Failed deliveries"), {"admin"}),
       ("pages.my_payslips", _l("My payslips"), None)]


def nav_links() -> list[dict]:
    actor = g.get("page_actor")
    if actor is None:
        return []
    return [{"url": url_for(endpoint), "label": label} for endpoint, label, roles in NAV
            if endpoint in current_app.view_functions and (roles is None or actor.has(*roles))]


@bp.app_context_processor
def page_globals() -> dict:
    return {"me": g.get("page_employee"), "actor": g.get("page_actor"), "nav_links": nav_links}


from . import (  # noqa: E402,F401
    account,
    app_manifest,
    dashboard_pages,
    designer_pages,
    hr_org_pages,
    hr_pages,
    inbox,
    incident_pages,
    migration_pages,
    my_pages,
    notification_pages,
    org_pages,
    process_pages,
    single_sign_on,
    task_pages,
)


@bp.app_template_test("attached_files")
def attached_files(value) -> bool:
    """A file field's value: the list of `{sha256, name, type, size}` of its files."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, dict) and "sha256" in item for item in value)


@bp.app_template_test("thumbnailed")
def thumbnailed(media_type) -> bool:
    from services.persistence.file_store import THUMBNAILED
    return media_type in THUMBNAILED

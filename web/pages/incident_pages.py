"""Incidents for admins and designers: the failed steps, and the repair of an instance in
error from its incident (fix its data, retry it, on its version or a fixed one)."""
from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.errors import InvalidInput, NotFound, ServiceError
from services.workflow import definitions, modification, repair
from services.workflow.instances import get_instance
from services.workflow.views import incident_view

from . import bp, flash_refusal, page_actor, signed_in, store

PAGE_SIZE = 50


@bp.get("/incidents")
@signed_in
def incidents():
    status = request.args.get("status", "open")
    status = status if status in ("open", "resolved") else None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    filters = {name: request.args.get(name) or None for name in ("process_key", "element_id")}
    with store().reading() as uow:
        rows = repair.list_incidents(uow, page_actor(), status=status, limit=PAGE_SIZE + 1,
                                     offset=(page - 1) * PAGE_SIZE, **filters)
    return render_template("incidents.html", incidents=[incident_view(row) for row in rows[:PAGE_SIZE]],
                           status=status, filters=filters, page=page,
                           more=len(rows) > PAGE_SIZE)


def _incident_context(incident_id: int) -> dict:
    with store().reading() as uow:
        try:
            incident = repair.get_incident(uow, page_actor(), incident_id)
        except NotFound:
            abort(404)
        instance = get_instance(uow, incident.process_instance_id) \
            if incident.process_instance_id else None
        versions = sorted((d.version for d in definitions.list_versions(uow)
                           if d.key == incident.process_key), reverse=True)
        return {"incident": incident_view(incident), "instance": instance,
                "versions": versions}


@bp.get("/incidents/<int:incident_id>")
@signed_in
def incident_page(incident_id: int):
    return render_template("incident.html", errors={}, values={},
                           **_incident_context(incident_id))


@bp.post("/incidents/<int:incident_id>/data")
@signed_in
def fix_incident_data(incident_id: int):
    """The data-fix form: `set` as a JSON object, `unset` as names separated by commas."""
    context = _incident_context(incident_id)
    errors: dict = {}
    try:
        values = json.loads(request.form.get("set") or "{}")
    except ValueError:
        values = None
        errors["set"] = [_("Not valid JSON.")]
    if values is not None and not isinstance(values, dict):
        errors["set"] = [_("Give a JSON object of names and values.")]
    unset = [name.strip() for name in request.form.get("unset", "").split(",") if name.strip()]
    if not errors:
        try:
            with store().writing() as uow:
                repair.fix_data(uow, page_actor(), _instance_of(context), values, unset,
                                request.form.get("reason", ""))
        except InvalidInput as err:
            errors = err.errors if isinstance(err.errors, dict) else {"_schema": [str(err)]}
        except ServiceError as err:
            flash_refusal(err)
            return redirect(url_for("pages.incident_page", incident_id=incident_id))
        else:
            flash(_("The data was fixed; retry the step to run on."))
            return redirect(url_for("pages.incident_page", incident_id=incident_id))
    return render_template("incident.html", errors=errors, values=request.form,
                           **_incident_context(incident_id)), 422


@bp.post("/incidents/<int:incident_id>/retry")
@signed_in
def retry_incident(incident_id: int):
    version = request.form.get("version", type=int)

    def announce(row) -> None:
        if row.status == "error":
            flash(_("The step failed again: %(error)s", error=row.error), "error")
        else:
            flash(_("Retried: the instance is %(status)s.", status=row.status))

    return _repair(incident_id, lambda uow, actor, instance_id: repair.retry(
        uow, actor, instance_id, request.form.get("reason", ""), version), announce)


@bp.post("/incidents/<int:incident_id>/move")
@signed_in
def move_past_incident(incident_id: int):
    """Admins: cancel the token at one element and start one at another (step past it)."""
    return _repair(incident_id, lambda uow, actor, instance_id: modification.move(
        uow, actor, instance_id, request.form.get("from", ""), request.form.get("to", ""),
        request.form.get("reason", "")),
        lambda row: flash(_("Moved: the instance is %(status)s.", status=row.status)))


def _repair(incident_id: int, action, announce):
    """Run `action(uow, actor, instance_id)` on the incident's instance: the form again
    with its errors (422) when refused as input, else a flashed outcome and back."""
    context = _incident_context(incident_id)
    try:
        with store().writing() as uow:
            row = action(uow, page_actor(), _instance_of(context))
    except InvalidInput as err:
        errors = err.errors if isinstance(err.errors, dict) else {"_schema": [str(err)]}
        return render_template("incident.html", errors=errors, values=request.form,
                               **_incident_context(incident_id)), 422
    except ServiceError as err:
        flash_refusal(err)
    else:
        announce(row)
    return redirect(url_for("pages.incident_page", incident_id=incident_id))


def _instance_of(context: dict) -> int:
    if context["instance"] is None:
        abort(404)  # a start that failed kept no instance: nothing to repair
    return context["instance"].id

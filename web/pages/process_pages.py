"""Starting processes and following an instance: diagram, deadlines, history."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from services.errors import InvalidInput, NotFound, ServiceError
from services.org.directory import Directory
from services.workflow import attachments, definitions, instances, lifecycle
from services.workflow.participation import may_govern, may_start, require_may_start
from services.workflow.labels import localized_diagram
from services.workflow.views import instance_view

from . import (bp, flash_refusal, page_actor, page_labels, page_locale, refused_fields,
               signed_in, store)
from .forms import camunda_form_values, typed_values


def _startable() -> list[dict]:
    """The processes the signed-in person may start, with their start forms."""
    actor, locale = page_actor(), page_locale()
    with store().reading() as uow:
        directory = Directory.load(uow)
        return [{"key": d.key, "name": model.label(d.key, locale, d.name), "version": d.version,
                 "form": model.start_form.as_dict(locale)}
                for d in definitions.list_latest(uow)
                if may_start(actor, model := definitions.model_of(uow, d), directory)]


@bp.get("/processes")
@signed_in
def processes():
    return render_template("processes.html", processes=_startable(), errors={}, chosen=None,
                           values={}, form_values={})


@bp.post("/processes/<key>/start")
@signed_in
def start_process(key: str):
    with store().reading() as uow:
        require_may_start(uow, page_actor(), key)  # 404 or 403 with who may, as in the API
    chosen = next((p for p in _startable() if p["key"] == key), None)
    if chosen is None:
        abort(404)
    if chosen["form"].get("camunda_form"):
        values = camunda_form_values(request.form)  # checked by the engine, as on the API
    else:
        values = typed_values(chosen["form"]["fields"], request.form)
    try:
        with store().writing() as uow:
            row = instances.start_process(uow, key, values, page_actor().username,
                                          request.form.get("business_key") or None)
    except InvalidInput as err:
        errors = refused_fields(err)
        return render_template("processes.html", processes=_startable(), errors=errors,
                               chosen=key, values=request.form,
                               form_values=values if isinstance(values, dict) else {}), 422
    except ServiceError as err:
        flash_refusal(err)
        return redirect(url_for("pages.processes"))
    flash(_("Started %(name)s #%(id)s.", name=chosen["name"], id=row.id))
    return redirect(url_for("pages.instance_page", instance_id=row.id))


@bp.get("/instances/<int:instance_id>")
@signed_in
def instance_page(instance_id: int):
    with store().reading() as uow:
        try:
            row = instances.visible_instance(uow, page_actor(), instance_id)
        except NotFound:
            abort(404)
        view = instance_view(uow, row)
        viewable = attachments.visible_tasks(uow, page_actor(),
                                             [item["task_id"] for item in view["history"]])
        governs = may_govern(page_actor(), definitions.model_of(uow, row.definition),
                             Directory.load(uow))
        labels = page_labels(uow, [row.id])
    done = sorted({item["element_id"] for item in view["history"]})
    current = [task["element_id"] for task in view["tasks"]]
    return render_template("instance.html", instance=view, done=done, current=current,
                           governs=governs, starter=row.started_by == page_actor().username,
                           labels=labels, viewable=viewable)


_LIFECYCLE = {"cancel": (lifecycle.cancel, _l("Cancelled.")),
              "suspend": (lifecycle.suspend, _l("Suspended.")),
              "resume": (lifecycle.resume, _l("Resumed."))}


@bp.post("/instances/<int:instance_id>/<any(cancel, suspend, resume):action>")
@signed_in
def change_instance(instance_id: int, action: str):
    """Cancel (or, its starter, withdraw), suspend or resume, with a reason."""
    use_case, done = _LIFECYCLE[action]
    try:
        with store().writing() as uow:
            use_case(uow, page_actor(), instance_id, request.form.get("reason", ""))
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash_refusal(err)
    else:
        flash(str(done))
    return redirect(url_for("pages.instance_page", instance_id=instance_id))


@bp.get("/instances/<int:instance_id>/diagram.bpmn")
@signed_in
def instance_diagram(instance_id: int):
    with store().reading() as uow:
        try:
            row = instances.visible_instance(uow, page_actor(), instance_id)
        except NotFound:
            abort(404)
        return Response(localized_diagram(row.definition.bpmn_xml, page_locale()),
                        mimetype="application/xml")

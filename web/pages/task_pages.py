"""A task: its generated form, the diagram with the current step, and progress notes."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.errors import InvalidInput, NotFound, ServiceError
from services.workflow import attachments, instances, tasks
from web.uploads import file_store, limits, send_attachment, uploads

from . import bp, flash_refusal, page_actor, page_labels, refused_fields, signed_in, store
from .forms import camunda_form_values, typed_values


def camunda_form_prefill(uow, instance_id: int) -> dict:
    """The process data the task's reader may see (the instance's, as the instance page
    shows it to them), {} for none."""
    try:
        row = instances.visible_instance(uow, page_actor(), instance_id)
    except NotFound:
        return {}
    return row.data if isinstance(row.data, dict) else {}


def _task_context(task_id: str) -> dict:
    with store().reading() as uow:
        try:
            task = tasks.get_task(uow, page_actor(), task_id)
        except NotFound:
            abort(404)
        labels = page_labels(uow, [task.process_instance_id])
        form = labels.form(task.process_instance_id, task.element_id)
        local = task.local_data or {}
        for field in form["fields"]:
            if field["id"] in local and local[field["id"]] is not None:
                # Its input parameter's value prefills the field (camunda:inputOutput).
                value = local[field["id"]]
                field["default"] = value if isinstance(value, bool) else str(value)
            if field["type"] == "file":
                # A field for images only opens the phone's camera straight away.
                accepted = field.get("accept") or limits().default_types
                field["accept_attr"] = ",".join(accepted)
                field["camera"] = all(kind.startswith("image/") for kind in accepted)
        # A Camunda Form starts from the process data (form-js picks the keys it shows).
        prefill = camunda_form_prefill(uow, task.process_instance_id) \
            if form.get("camunda_form") else {}
        comments = tasks.comments(uow, page_actor(), task_id)
        escalations = tasks.escalations(uow, page_actor(), task_id)
        return {"task": task, "form": form, "comments": comments, "escalations": escalations,
                "properties": attachments.task_properties(uow, task), "local": local,
                "labels": labels, "name": labels.task(task), "max_upload_mb": limits().megabytes,
                "form_values": prefill}


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@signed_in
def task_page(task_id: str):
    context = _task_context(task_id)
    errors: dict = {}
    values = {}
    status = 200
    if request.method == "POST":
        if context["form"].get("camunda_form"):
            values = camunda_form_values(request.form)
            if not isinstance(values, dict):
                errors = {"_schema": [_("The form's values did not arrive as a JSON object.")]}
                return render_template("task.html", errors=errors, values={}, **context), 422
            context["form_values"] = {**context["form_values"], **values}
        else:
            values = typed_values(context["form"]["fields"], request.form)
        try:
            with file_store().staging() as staging, store().writing() as uow:
                attachments.complete_with_files(uow, page_actor(), task_id, values, uploads(),
                                                staging, limits())
        except InvalidInput as err:
            errors = refused_fields(err)
            status = 422
        except ServiceError as err:
            flash_refusal(err)
            status = 409 if "already" in str(err) or "claimed" in str(err) else 403
        else:
            flash(_("Done: %(name)s.", name=context["name"]))
            return redirect(url_for("pages.inbox"))
    return render_template("task.html", errors=errors, values=values or request.form,
                           **context), status


@bp.post("/tasks/<task_id>/comments")
@signed_in
def add_comment(task_id: str):
    try:
        with store().writing() as uow:
            tasks.add_comment(uow, page_actor(), task_id, request.form.get("text", ""))
    except ServiceError as err:
        flash_refusal(err)
    return redirect(url_for("pages.task_page", task_id=task_id) + "#comments")


@bp.get("/tasks/<task_id>/files/<sha256>")
@signed_in
def task_file(task_id: str, sha256: str):
    """An attached file, for whoever may see the task (else 404, as the task itself)."""
    return _file(task_id, sha256, thumbnail=False)


@bp.get("/tasks/<task_id>/files/<sha256>/thumbnail")
@signed_in
def task_file_thumbnail(task_id: str, sha256: str):
    return _file(task_id, sha256, thumbnail=True)


def _file(task_id: str, sha256: str, thumbnail: bool):
    try:
        with store().reading() as uow:
            found = attachments.open_attachment(uow, file_store(), page_actor(), task_id,
                                                sha256, thumbnail)
    except NotFound:
        abort(404)
    return send_attachment(found)

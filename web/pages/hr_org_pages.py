"""HR: the org file on the HR page. Download the current org (or an empty template) as a
spreadsheet or YAML, upload an edited one, see what it would change, then confirm.

The preview and the import are services.pay.reorganisation's; the uploaded file is not
stored between the two steps: the preview page carries it back with the confirmation,
with the org revision it was previewed against (a changed org refuses the confirmation).
"""
from __future__ import annotations

import base64
import binascii

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from payroll.periods import Period
from services.errors import Conflict, InvalidInput
from services.org import org_file, org_sheets
from services.pay import reorganisation
from services.persistence.models import utcnow

from . import bp, page_actor, page_labels, signed_in, store
from .dashboard_pages import timezone


@bp.get("/hr/org/export")
@signed_in
def hr_org_export():
    page_actor().require("hr", "admin")
    kind = _format()
    with store().reading() as uow:
        document = org_file.export_document(uow)
    return _download(org_sheets.render(document, kind), "org", kind)


@bp.get("/hr/org/template")
@signed_in
def hr_org_template():
    page_actor().require("hr", "admin")
    kind = _format()
    return _download(org_sheets.template(kind), "org-template", kind)


@bp.post("/hr/org/preview")
@signed_in
def hr_org_preview():
    actor = page_actor()
    actor.require("hr", "admin")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an org file (.xlsx, .csv or .yaml) to upload."), "error")
        return redirect(url_for("pages.hr_home") + "#org")
    data, filename = upload.read(org_sheets.MAX_BYTES + 1), upload.filename
    try:
        with store().reading() as uow:
            found = reorganisation.preview(uow, actor, data, filename,
                                           Period.of(utcnow(), timezone()))
            labels = page_labels(uow)
    except InvalidInput as err:
        return render_template("hr_org_preview.html", preview=None, filename=filename,
                               problems=_problems(err)), 422
    return render_template("hr_org_preview.html", preview=found, filename=filename,
                           problems=[], content=base64.b64encode(data).decode("ascii"),
                           labels=labels)


@bp.post("/hr/org/import")
@signed_in
def hr_org_import():
    actor = page_actor()
    actor.require("hr", "admin")
    filename = request.form.get("filename") or ""
    try:
        data = base64.b64decode(request.form.get("content") or "", validate=True)
    except (binascii.Error, ValueError):
        flash(_("The confirmed file was damaged in transit: upload it again."), "error")
        return redirect(url_for("pages.hr_home") + "#org")
    try:
        with store().writing() as uow:
            done = reorganisation.import_file(uow, actor, data, filename,
                                              request.form.get("revision") or "")
    except (Conflict, InvalidInput) as err:
        flash(str(err).partition("\n")[0], "error")
        return redirect(url_for("pages.hr_home") + "#org")
    report = done.report
    flash(_("Org imported from %(file)s: %(created)s created, %(updated)s updated, "
            "%(deactivated)s deactivated; %(moved)s open task(s) moved.", file=filename,
            created=report.created, updated=report.updated, deactivated=report.deactivated,
            moved=done.moved_tasks))
    return redirect(url_for("pages.hr_home") + "#org")


def _format() -> str:
    kind = request.args.get("format", "xlsx")
    if kind not in org_sheets.FORMATS:
        raise InvalidInput(f"unknown format {kind!r}",
                           {"format": [f"One of {', '.join(org_sheets.FORMATS)}."]})
    return kind


def _download(body: bytes, stem: str, kind: str) -> Response:
    return Response(body, mimetype=org_sheets.MEDIA_TYPES[kind].split(";")[0],
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{kind}"'})


def _problems(err: InvalidInput) -> list[str]:
    errors = err.errors
    if isinstance(errors, dict):
        return [f"{field}: {' '.join(map(str, messages))}" for field, messages in errors.items()]
    return [str(problem) for problem in errors] if errors else [str(err)]

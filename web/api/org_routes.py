"""The organisation as each caller may see it, the duty matrix, and absences."""
from __future__ import annotations

from flask import Response, current_app, request

from payroll.periods import Period
from services.errors import InvalidInput
from services.org import absences, org_file, org_sheets
from services.pay import reorganisation
from services.persistence.models import utcnow
from services.persistence.models import Absence as AbsenceRow
from services.reporting import org_queries
from services.workflow.views import iso

from . import actor, bp, store
from .contract import Documented, operation
from .schemas import (Absence, AbsenceRequest, Department, DutyMatrix, Employee, OrgFileQuery,
                      OrgImported, OrgPreview, OrgUpload)


ORG_FILE_TYPES = tuple(org_sheets.MEDIA_TYPES[kind].split(";")[0] for kind in org_sheets.FORMATS)


@bp.get("/departments")
@operation({200: Department(many=True)})
def departments():
    """Departments visible to the caller."""
    with store().reading() as uow:
        return org_queries.list_departments(uow, actor())


@bp.get("/employees")
@operation({200: Employee(many=True)})
def employees():
    """Employees visible to the caller (salaries for HR and admins only)."""
    with store().reading() as uow:
        return org_queries.list_employees(uow, actor())


@bp.get("/duty-matrix")
@operation({200: DutyMatrix}, problems=(403,))
def duty_matrix():
    """Departments x steps, with who actually did each step, and overlaps."""
    with store().reading() as uow:
        return org_queries.duty_matrix(uow, actor())


@bp.put("/employees/<username>/absence")
@operation({200: Absence}, body=AbsenceRequest, problems=(403, 404, 422))
def set_absence(username: str, body: dict):
    """Record (or replace) a person's absence and substitute: the person, the head of their
    department (or a manager above it), HR or an admin. While absent, the work routed to
    them goes to the substitute, who must be in the same department."""
    with store().writing() as uow:
        return absence_view(absences.set_absence(uow, actor(), username, body["from"],
                                                 body["to"], body["substitute"]))


@bp.delete("/employees/<username>/absence")
@operation({200: Absence}, problems=(403, 404))
def end_absence(username: str):
    """End a person's absence now; answers with the absence ended. Who may: as for PUT."""
    with store().writing() as uow:
        return absence_view(absences.end_absence(uow, actor(), username))


def absence_view(absence: AbsenceRow) -> dict:
    return {"username": absence.username, "from": iso(absence.starts_at),
            "to": iso(absence.ends_at), "substitute": absence.substitute,
            "set_by": absence.set_by, "set_at": iso(absence.set_at)}


@bp.post("/org/preview")
@operation({200: OrgPreview}, body=Documented(OrgUpload, "multipart/form-data"),
           problems=(403, 422))
def preview_org():
    """What importing the org file (YAML, xlsx or CSV) would change, changing nothing (HR,
    admin): per step of the current process versions its owner before and after, the open
    tasks that would move, lanes or groups left with no department (`refused`), people who
    change department and the KPI scheme that would score them next."""
    actor().require("hr", "admin")
    data, filename = org_upload()
    with store().reading() as uow:
        return reorganisation.preview(uow, actor(), data, filename, Period.of(
            utcnow(), current_app.config["DUTYFLOW_SETTINGS"].timezone))


@bp.post("/org/import")
@operation({200: OrgImported}, body=Documented(OrgUpload, "multipart/form-data"),
           problems=(403, 409, 422))
def import_org():
    """Import the org file (HR, admin): its diff, audit and routing update, and the open
    tasks moved to their new inboxes. 422 listing the lanes or groups that would route to
    no department; 409 when `revision` is not the org's any more."""
    actor().require("hr", "admin")
    data, filename = org_upload()
    with store().writing() as uow:
        done = reorganisation.import_file(uow, actor(), data, filename,
                                          request.form.get("revision") or None)
    report = done.report
    return {"import_id": report.import_id, "created": report.created, "updated": report.updated,
            "deactivated": report.deactivated, "moved_tasks": done.moved_tasks}


@bp.get("/org/export")
@operation({200: ORG_FILE_TYPES}, query=OrgFileQuery, problems=(403, 422))
def export_org(query: dict):
    """The current org as an org file (HR, admin), ready to edit and import: xlsx (default),
    csv or yaml. Passwords and notification channels are left out (and kept on import)."""
    actor().require("hr", "admin")
    with store().reading() as uow:
        document = org_file.export_document(uow)
    return org_download(org_sheets.render(document, query["format"]), "org", query["format"])


@bp.get("/org/template")
@operation({200: ORG_FILE_TYPES}, query=OrgFileQuery, problems=(403, 422))
def org_template(query: dict):
    """An empty org file (HR, admin): the sheets and columns, no rows."""
    actor().require("hr", "admin")
    return org_download(org_sheets.template(query["format"]), "org-template", query["format"])


def org_upload() -> tuple[bytes, str]:
    """The multipart field `file`: its bytes (at most one past the limit) and name."""
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("send the org file as multipart field 'file'",
                           {"file": ["Missing multipart field 'file'."]})
    return upload.read(org_sheets.MAX_BYTES + 1), upload.filename or ""


def org_download(body: bytes, stem: str, kind: str) -> Response:
    return Response(body, mimetype=org_sheets.MEDIA_TYPES[kind].split(";")[0],
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{kind}"'})

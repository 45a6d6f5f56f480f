"""The designer's pages: deployed versions, uploads with located errors, and the modeler.

Deploying goes through services.workflow.definitions.deploy, which validates every diagram
against the organisation; these views only translate its answers into pages and JSON.
"""
from __future__ import annotations

import re

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.errors import InvalidInput, NotFound
from services.org.directory import Directory
from services.workflow import definitions

from . import bp, page_actor, signed_in, store

_SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")

# A one-lane pool to start from: lanes are departments, so the designer renames the lane.
NEW_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="definitions_new_process" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="collaboration_new_process">
    <bpmn:participant id="participant_new_process" name="New process" processRef="new_process" />
  </bpmn:collaboration>
  <bpmn:process id="new_process" name="New process" isExecutable="true">
    <bpmn:laneSet id="laneset_new_process">
      <bpmn:lane id="lane_1" name="Department">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Start" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_new_process">
    <bpmndi:BPMNPlane id="plane_new_process" bpmnElement="collaboration_new_process">
      <bpmndi:BPMNShape id="participant_new_process_di" bpmnElement="participant_new_process" isHorizontal="true">
        <dc:Bounds x="120" y="60" width="700" height="200" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_1_di" bpmnElement="lane_1" isHorizontal="true">
        <dc:Bounds x="150" y="60" width="670" height="200" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="212" y="142" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _require_designer() -> None:
    page_actor().require("designer", "admin")  # PermissionDenied -> 403


def _version_view(definition) -> dict:
    return {"key": definition.key, "version": definition.version, "name": definition.name,
            "filename": definition.filename, "deployed_at": definition.deployed_at,
            "deployed_by": definition.deployed_by}


def _processes() -> list[dict]:
    """Every deployed process with all its versions, newest first."""
    with store().reading() as uow:
        out: dict[str, dict] = {}
        for definition in definitions.list_versions(uow):
            process = out.setdefault(definition.key, {
                "key": definition.key, "name": definition.name, "latest": definition.version,
                "versions": []})
            process["versions"].append(_version_view(definition))
        return list(out.values())


def _problems(err: InvalidInput) -> list[dict]:
    errors = err.errors if isinstance(err.errors, list) else []
    problems = [p for p in errors if isinstance(p, dict)]
    return problems or [{"file": None, "line": None, "element_id": None, "message": str(err)}]


def _deploy(files: list[tuple[str, bytes]], default_department: str | None = None):
    return definitions.deploy_files(store(), files, page_actor().username, default_department)


def _designer_page(problems: list[dict], uploaded_xml: str | None = None,
                   uploaded_name: str | None = None, default_department: str | None = None):
    with store().reading() as uow:
        departments = sorted(Directory.load(uow).departments.values(), key=lambda d: d.key)
    return render_template("designer.html", processes=_processes(), problems=problems,
                           uploaded_xml=uploaded_xml, uploaded_name=uploaded_name,
                           departments=departments, default_department=default_department)


@bp.get("/designer")
@signed_in
def designer():
    _require_designer()
    return _designer_page([])


@bp.post("/designer/upload")
@signed_in
def designer_upload():
    _require_designer()
    uploads = [upload for upload in request.files.getlist("file") if upload.filename]
    if not uploads:
        problems = [{"file": None, "line": None, "element_id": None,
                     "message": _("Choose a .bpmn file to upload.")}]
        return _designer_page(problems), 422
    # Several files deploy together: the diagram, the .dmn files of its decisions and the
    # .form files of its Camunda Forms.
    files = [(upload.filename, upload.read(definitions.MAX_UPLOAD_BYTES + 1))
             for upload in uploads[:definitions.MAX_DEPLOYMENT_FILES]]
    bpmn, _dmn = definitions.split_files(files)
    filename, source = (bpmn or files)[0]
    default_department = request.form.get("default_department") or None
    try:
        results = _deploy(files, default_department)
    except InvalidInput as err:
        # The upload is not stored: embed it so the page can draw it and mark the problems.
        uploaded = source.decode("utf-8", errors="replace") \
            if 0 < len(source) <= definitions.MAX_UPLOAD_BYTES else None
        return _designer_page(_problems(err), uploaded, filename, default_department), 422
    for result in results:
        definition = result.definition
        if result.created:
            flash(_("Deployed %(key)s v%(version)s.", key=definition.key, version=definition.version))
        else:
            flash(_("%(key)s v%(version)s is unchanged: the file is identical.",
                    key=definition.key, version=definition.version))
    return redirect(url_for("pages.designer"))


@bp.post("/designer/deploy-xml")
@signed_in
def designer_deploy_xml():
    """The modeler's "Deploy as new version": JSON {key, xml} in, JSON out."""
    _require_designer()
    body = request.get_json(silent=True)
    xml = body.get("xml") if isinstance(body, dict) else None
    if not isinstance(xml, str) or not xml.strip():
        return jsonify(ok=False, message=_("Send the diagram as JSON {\"key\", \"xml\"}."),
                       errors=[{"file": None, "line": None, "element_id": None,
                                "message": _("The diagram is empty.")}]), 422
    key = body.get("key") if isinstance(body.get("key"), str) else ""
    filename = f"{key if _SAFE_KEY.match(key) else 'diagram'}.bpmn"
    with store().reading() as uow:  # the decisions and forms deployed with the version it edits
        decision_files = definitions.latest_decision_files(uow, key)
    try:
        results = _deploy([(filename, xml.encode("utf-8")), *decision_files])
    except InvalidInput as err:
        return jsonify(ok=False, message=str(err), errors=_problems(err)), 422
    first = results[0]
    return jsonify(ok=True, key=first.definition.key, version=first.definition.version,
                   created=first.created,
                   processes=[{"key": r.definition.key, "version": r.definition.version,
                               "created": r.created} for r in results]), \
        201 if any(r.created for r in results) else 200


@bp.get("/designer/processes/<key>/<int:version>")
@signed_in
def designer_view(key: str, version: int):
    _require_designer()
    with store().reading() as uow:
        try:
            definition = _version_view(definitions.get_version(uow, key, version))
        except NotFound:
            abort(404)
    return render_template("designer_view.html", definition=definition)


@bp.get("/designer/processes/<key>/<int:version>/diagram.bpmn")
@signed_in
def designer_xml(key: str, version: int):
    _require_designer()
    with store().reading() as uow:
        try:
            definition = definitions.get_version(uow, key, version)
        except NotFound:
            abort(404)
        response = Response(definition.bpmn_xml, mimetype="application/xml")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = \
            f'attachment; filename="{key}-v{version}.bpmn"'
    return response


@bp.get("/designer/modeler")
@signed_in
def designer_modeler():
    _require_designer()
    key = request.args.get("key") or None
    version = request.args.get("version", type=int)
    definition = None
    if key:
        with store().reading() as uow:
            try:
                row = definitions.get_version(uow, key, version) if version \
                    else definitions.latest_definition(uow, key)
            except NotFound:
                abort(404)
            definition = _version_view(row)
            xml = row.bpmn_xml
    else:
        xml = NEW_DIAGRAM
    return render_template("designer_modeler.html", definition=definition, xml=xml)

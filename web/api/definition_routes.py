"""Deploying and reading process definitions."""
from __future__ import annotations

from flask import Response, request

from services.errors import InvalidInput
from services.workflow import definitions
from services.workflow.views import iso

from . import actor, bp, store, unstorable
from .contract import Documented, operation
from .schemas import Definition, Deployment, DeployUpload

MAX_FILENAME = 255  # the length of ProcessDefinition.filename
MAX_FILES = definitions.MAX_DEPLOYMENT_FILES


def definition_view(definition) -> dict:
    return {"key": definition.key, "version": definition.version, "name": definition.name,
            "deployed_at": iso(definition.deployed_at)}


@bp.post("/process-definitions")
@operation({201: Deployment, 200: Deployment},
           body=Documented(DeployUpload, "multipart/form-data"), problems=(422,))
def deploy_definition():
    """Deploy one or more files as one deployment (designer or admin): BPMN diagrams and
    the DMN decision files their business rule tasks call, each as a multipart `file`
    part; 200 when every process in them was deployed already, unchanged."""
    actor().require("designer", "admin")
    uploads = request.files.getlist("file")
    if not uploads:
        raise InvalidInput("send the BPMN file as multipart field 'file'",
                           [{"file": None, "line": None, "element_id": None,
                             "message": "missing multipart field 'file'"}])
    files = [(upload_name(upload), upload.read(definitions.MAX_UPLOAD_BYTES + 1))
             for upload in uploads[:MAX_FILES + 1]]
    if len(files) > MAX_FILES:
        raise InvalidInput(f"a deployment has at most {MAX_FILES} files",
                           [{"file": None, "line": None, "element_id": None,
                             "message": f"{len(uploads)} files sent"}])
    results = definitions.deploy_files(store(), files, actor().username,
                                       default_department(request.form.get("default_department")))
    created = any(result.created for result in results)
    body = definition_view(results[0].definition)
    if len(results) > 1:
        body["processes"] = [definition_view(result.definition) for result in results]
    warnings = [warning.as_dict() for result in results for warning in result.warnings]
    if warnings:
        body["warnings"] = warnings
    if results[0].decisions:
        body["decisions"] = [{"id": decision.id, "name": decision.name, "file": decision.file}
                             for decision in results[0].decisions]
    forms = [form for result in results for form in result.forms]
    if forms:
        body["forms"] = [{"file": form.file, "id": form.id, "elements": list(form.elements)}
                         for form in forms]
    return body, 201 if created else 200


def default_department(value: str | None) -> str | None:
    """The form field, blank meaning none; 422 for text no department key could be."""
    value = (value or "").strip()
    if not value:
        return None
    problem = unstorable(value) or ("longer than 64 characters" if len(value) > 64 else None)
    if problem:
        raise InvalidInput("the default department is invalid", {"default_department": [problem]})
    return value


def upload_name(upload) -> str:
    """The upload's file name, stored with the definition: 422 for a name the column
    cannot hold (PostgreSQL refuses NUL and anything past 255 characters with a 500)."""
    filename = upload.filename or "upload.bpmn"
    problem = unstorable(filename) or (f"the file name is longer than {MAX_FILENAME} characters"
                                       if len(filename) > MAX_FILENAME else None)
    if problem:
        raise InvalidInput("rename the file and upload it again",
                           [{"file": None, "line": None, "element_id": None, "message": problem}])
    return filename


@bp.get("/process-definitions")
@operation({200: Definition(many=True)})
def list_definitions():
    """The latest version of every deployed process."""
    with store().reading() as uow:
        return [definition_view(d) for d in definitions.list_latest(uow)]


@bp.get("/process-definitions/<key>/versions/<int:version>/bpmn")
@operation({200: ("application/xml",)}, problems=(404,))
def definition_xml(key: str, version: int):
    """The BPMN XML of one deployed version."""
    with store().reading() as uow:
        definition = definitions.get_version(uow, key, version)
        return Response(definition.bpmn_xml, mimetype="application/xml")

"""Deploying and reading process definitions."""
from __future__ import annotations

from flask import Response, jsonify, request

from services.errors import InvalidInput
from services.workflow import definitions
from services.workflow.views import iso

from . import actor, bp, store, unstorable

MAX_FILENAME = 255  # the length of ProcessDefinition.filename


def definition_view(definition) -> dict:
    return {"key": definition.key, "version": definition.version, "name": definition.name,
            "deployed_at": iso(definition.deployed_at)}


@bp.post("/process-definitions")
def deploy_definition():
    """Deploy a BPMN file (designer or admin).
    ---
    post:
      requestBody: {content: {multipart/form-data: {schema: DeployUpload}}}
      responses:
        201: {content: {application/json: {schema: Definition}}}
        200: {content: {application/json: {schema: Definition}}}
        422: problem
    """
    actor().require("designer", "admin")
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("send the BPMN file as multipart field 'file'",
                           [{"file": None, "line": None, "element_id": None,
                             "message": "missing multipart field 'file'"}])
    filename = upload_name(upload)
    source = upload.read(definitions.MAX_UPLOAD_BYTES + 1)
    results = definitions.deploy(store(), source, filename, actor().username)
    created = any(result.created for result in results)
    body = definition_view(results[0].definition)
    if len(results) > 1:
        body["processes"] = [definition_view(result.definition) for result in results]
    return jsonify(body), 201 if created else 200


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
def list_definitions():
    """The latest version of every deployed process.
    ---
    get:
      responses:
        200: {content: {application/json: {schema: {type: array, items: Definition}}}}
    """
    with store().reading() as uow:
        return jsonify([definition_view(d) for d in definitions.list_latest(uow)])


@bp.get("/process-definitions/<key>/versions/<int:version>/bpmn")
def definition_xml(key: str, version: int):
    """The BPMN XML of one deployed version.
    ---
    get:
      parameters:
        - {name: key, in: path, required: true, schema: {type: string}}
        - {name: version, in: path, required: true, schema: {type: integer}}
      responses:
        200: {content: {application/xml: {schema: {type: string}}}}
        404: problem
    """
    with store().reading() as uow:
        definition = definitions.get_version(uow, key, version)
        return Response(definition.bpmn_xml, mimetype="application/xml")

"""Starting and reading process instances."""
from __future__ import annotations

from flask import jsonify, request

from services.workflow import instances
from services.workflow.participation import require_may_start
from services.workflow.views import instance_view

from . import actor, bp, load, store
from .schemas import InstanceQuery, StartRequest


@bp.post("/process-instances")
def start_instance():
    """Start the latest version of a process.
    ---
    post:
      requestBody: {content: {application/json: {schema: StartRequest}}}
      responses:
        201: {content: {application/json: {schema: Instance}}}
        403, 404, 422: problem
    """
    body = load(StartRequest)
    with store().writing() as uow:
        require_may_start(uow, actor(), body["process_key"])
        row = instances.start_process(uow, body["process_key"], body["data"], actor().username,
                                      body.get("business_key"))
    with store().reading() as uow:
        return jsonify(instance_view(uow, instances.get_instance(uow, row.id))), 201


@bp.get("/process-instances/<int:instance_id>")
def get_instance(instance_id: int):
    """An instance with its data, ready tasks, history and pending timers.
    ---
    get:
      parameters: [{name: instance_id, in: path, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: Instance}}}
        404: problem
    """
    with store().reading() as uow:
        return jsonify(instance_view(uow, instances.visible_instance(uow, actor(), instance_id)))


@bp.get("/process-instances")
def list_instances():
    """Instances the caller may see, newest first.
    ---
    get:
      parameters:
        - {name: status, in: query, schema: {type: string, enum: [running, completed, error]}}
        - {name: process_key, in: query, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200}}
        - {name: page, in: query, schema: {type: integer, minimum: 1}}
      responses:
        200: {content: {application/json: {schema: {type: array, items: Instance}}}}
        422: problem
    """
    query = load(InstanceQuery, request.args.to_dict())
    with store().reading() as uow:
        rows = instances.list_instances(uow, actor(), query.get("status"), query.get("process_key"),
                                        query["limit"], (query["page"] - 1) * query["limit"])
        return jsonify([instance_view(uow, row) for row in rows])

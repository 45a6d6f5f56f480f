"""Starting and reading process instances."""
from __future__ import annotations

from services.workflow import instances
from services.workflow.participation import require_may_start
from services.workflow.views import instance_view

from . import actor, bp, store
from .contract import operation
from .schemas import Instance, InstanceQuery, StartRequest


@bp.post("/process-instances")
@operation({201: Instance}, body=StartRequest, problems=(403, 404, 422))
def start_instance(body: dict):
    """Start the latest version of a process."""
    with store().writing() as uow:
        require_may_start(uow, actor(), body["process_key"])
        row = instances.start_process(uow, body["process_key"], body["data"], actor().username,
                                      body.get("business_key"))
    with store().reading() as uow:
        return instance_view(uow, instances.get_instance(uow, row.id)), 201


@bp.get("/process-instances/<int:instance_id>")
@operation({200: Instance}, problems=(404,))
def get_instance(instance_id: int):
    """An instance with its data, ready tasks, history and pending timers."""
    with store().reading() as uow:
        return instance_view(uow, instances.visible_instance(uow, actor(), instance_id))


@bp.get("/process-instances")
@operation({200: Instance(many=True)}, query=InstanceQuery, problems=(422,))
def list_instances(query: dict):
    """Instances the caller may see, newest first."""
    with store().reading() as uow:
        rows = instances.list_instances(uow, actor(), query.get("status"), query.get("process_key"),
                                        query["limit"], (query["page"] - 1) * query["limit"])
        return [instance_view(uow, row) for row in rows]

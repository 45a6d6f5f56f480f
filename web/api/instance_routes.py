"""Starting and reading process instances."""
from __future__ import annotations

from services.workflow import instances, lifecycle, modification, repair
from services.workflow.participation import require_may_start
from services.workflow.views import instance_view

from . import actor, bp, store
from .contract import operation
from .schemas import (DataFixRequest, Instance, InstanceQuery, MoveRequest, ReasonRequest,
                      RetryRequest, StartRequest)


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


def _changed(action, instance_id: int, *args) -> dict:
    with store().writing() as uow:
        action(uow, actor(), instance_id, *args)
    with store().reading() as uow:
        return instance_view(uow, instances.get_instance(uow, instance_id))


@bp.post("/process-instances/<int:instance_id>/cancel")
@operation({200: Instance}, body=ReasonRequest, problems=(403, 404, 409, 422))
def cancel_instance(instance_id: int, body: dict):
    """Cancel an instance (heads of the departments owning its duties, admins), or
    withdraw it (its starter, until another department has completed a step): open
    tasks become withdrawn, timers cancelled; 409 once it is finished."""
    return _changed(lifecycle.cancel, instance_id, body["reason"])


@bp.post("/process-instances/<int:instance_id>/suspend")
@operation({200: Instance}, body=ReasonRequest, problems=(403, 404, 409, 422))
def suspend_instance(instance_id: int, body: dict):
    """Suspend a running instance (heads of owning departments, admins): its tasks stay
    visible but cannot be claimed or completed, its timers wait."""
    return _changed(lifecycle.suspend, instance_id, body["reason"])


@bp.post("/process-instances/<int:instance_id>/resume")
@operation({200: Instance}, body=ReasonRequest, problems=(403, 404, 409, 422))
def resume_instance(instance_id: int, body: dict):
    """Resume a suspended instance; timers that fell due meanwhile fire then."""
    return _changed(lifecycle.resume, instance_id, body["reason"])


@bp.post("/process-instances/<int:instance_id>/retry")
@operation({200: Instance}, body=RetryRequest, problems=(403, 404, 409, 422))
def retry_instance(instance_id: int, body: dict):
    """Run an instance's failed step again (admins, designers), after its data was fixed
    or, with `version`, on a fixed version of its process; 409 unless it is in error."""
    return _changed(repair.retry, instance_id, body["reason"], body.get("version"))


@bp.patch("/process-instances/<int:instance_id>/data")
@operation({200: Instance}, body=DataFixRequest, problems=(403, 404, 409, 422))
def fix_instance_data(instance_id: int, body: dict):
    """Set and unset process variables of an instance in error (admins, designers); it
    stays in error until retried."""
    return _changed(repair.fix_data, instance_id, body["set"], body["unset"], body["reason"])


@bp.post("/process-instances/<int:instance_id>/move")
@operation({200: Instance}, body=MoveRequest, problems=(403, 404, 409, 422))
def move_instance(instance_id: int, body: dict):
    """Cancel the token at one activity and start one at another (admins): the activity
    left is cancelled, never completed, so nobody is credited for it; 409 when no token
    waits there or the instance is suspended or finished."""
    return _changed(modification.move, instance_id, body["from_"], body["to"], body["reason"])

"""External tasks for worker systems, in Camunda 7's REST shape (/external-task there,
/external-tasks here): fetch and lock, complete, failure, extend-lock, retries.

Values travel as Camunda's typed values (`{"value": ..., "type": "String"}`); the
service holds them as plain process variables.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from flask import Response

from services.errors import InvalidInput
from services.workflow import external_tasks, instances
from services.workflow.views import iso

from . import actor, bp, store
from .contract import operation
from .schemas import (ExtendLockRequest, ExternalCompleteRequest, ExternalFailureRequest,
                      FetchAndLockRequest, LockedExternalTask, RetriesRequest)

_NO_CONTENT = {204: ()}
_INT32 = range(-2**31, 2**31)


@bp.post("/external-tasks/fetch-and-lock")
@operation({200: LockedExternalTask(many=True)}, body=FetchAndLockRequest, problems=(403, 422))
def fetch_and_lock(body: dict):
    """Lock up to maxTasks tasks of the topics for workerId (integration role). Answers at
    once; asyncResponseTimeout (long polling) is not supported and ignored."""
    topics = [(topic["topicName"], dt.timedelta(milliseconds=topic["lockDuration"]))
              for topic in body["topics"]]
    wanted = {topic["topicName"]: topic.get("variables") for topic in body["topics"]}
    with store().writing() as uow:
        locked = external_tasks.fetch_and_lock(uow, actor(), body["workerId"], body["maxTasks"],
                                               topics)
        return [_locked_view(item, wanted[item.task.topic]) for item in locked]


def _locked_view(item: external_tasks.Locked, names: list[str] | None) -> dict[str, Any]:
    task = item.task
    variables = item.variables if names is None else \
        {name: item.variables[name] for name in names if name in item.variables}
    return {"id": task.id, "topicName": task.topic, "workerId": task.worker_id,
            "processInstanceId": str(task.process_instance_id),
            "processDefinitionKey": task.process_key, "activityId": task.element_id,
            "businessKey": item.business_key, "lockExpirationTime": iso(task.lock_expires_at),
            "retries": task.retries, "errorMessage": task.error_message,
            "variables": {name: _typed(value) for name, value in variables.items()}}


def _typed(value: Any) -> dict[str, Any]:
    """A process variable as Camunda's typed value."""
    if value is None:
        return {"value": None, "type": "Null"}
    if isinstance(value, bool):
        return {"value": value, "type": "Boolean"}
    if isinstance(value, int):
        return {"value": value, "type": "Integer" if value in _INT32 else "Long"}
    if isinstance(value, (float, Decimal)):
        return {"value": value, "type": "Double"}
    if isinstance(value, (dict, list)):
        return {"value": json.dumps(value, ensure_ascii=False), "type": "Json"}
    return {"value": value, "type": "String"}


def _plain(variables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Typed values in as plain variables; a Json value is parsed (its text is JSON)."""
    plain = {}
    for name, typed in variables.items():
        value = typed["value"]
        if (typed.get("type") or "").lower() == "json" and isinstance(value, str):
            try:
                value = json.loads(value, parse_float=Decimal)
            except ValueError:
                raise InvalidInput("a Json variable is not JSON",
                                   {f"variables.{name}": ["Not JSON text."]}) from None
        plain[name] = value
    return plain


@bp.post("/external-tasks/<task_id>/complete")
@operation(_NO_CONTENT, body=ExternalCompleteRequest, problems=(403, 404, 409, 422))
def complete_external_task(task_id: str, body: dict):
    """Complete a task workerId holds the lock on; its variables join the process data."""
    with store().writing() as uow:
        instances.complete_external_task(uow, actor(), task_id, body["workerId"],
                                         _plain(body["variables"]))
    return Response(status=204)


@bp.post("/external-tasks/<task_id>/failure")
@operation(_NO_CONTENT, body=ExternalFailureRequest, problems=(403, 404, 409, 422))
def report_external_failure(task_id: str, body: dict):
    """The worker failed: fetchable again after retryTimeout while retries > 0; retries 0
    records an incident."""
    with store().writing() as uow:
        external_tasks.report_failure(uow, actor(), task_id, body["workerId"],
                                      body["errorMessage"], body["retries"],
                                      dt.timedelta(milliseconds=body["retryTimeout"]))
    return Response(status=204)


@bp.post("/external-tasks/<task_id>/extend-lock")
@operation(_NO_CONTENT, body=ExtendLockRequest, problems=(403, 404, 409, 422))
def extend_external_lock(task_id: str, body: dict):
    """Hold the lock newDuration longer, counted from now."""
    with store().writing() as uow:
        external_tasks.extend_lock(uow, actor(), task_id, body["workerId"],
                                   dt.timedelta(milliseconds=body["newDuration"]))
    return Response(status=204)


@bp.put("/external-tasks/<task_id>/retries")
@operation(_NO_CONTENT, body=RetriesRequest, problems=(403, 404, 409, 422))
def set_external_retries(task_id: str, body: dict):
    """Make a failed task fetchable again (integration or admin)."""
    with store().writing() as uow:
        external_tasks.set_retries(uow, actor(), task_id, body["retries"])
    return Response(status=204)

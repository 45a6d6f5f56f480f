"""One engine step as plain data in, plain data out: what a sandbox worker runs.

A step is everything the engine does for one use case: restore the instance (or create
it), start it, complete a task or fire a timer, run to the next wait state, resolve the
new tasks' due dates and the persons they go to (engine.people), and dump the state. Requests and outcomes are JSON-ready dicts, so
the step can run in another process (`engine.sandbox_pool`) and nothing the diagram's
code touched travels back but data.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .deadlines import parse_datetime, resolve_due_at
from .errors import EngineError, FormValidationError, TaskNotReady
from .model import ProcessModel
from .people import OrgSnapshot, RoutingError, resolve
from .runtime import Instance, PendingTimer

START, COMPLETE, FIRE_TIMER = "start", "complete", "fire_timer"


@dataclass(frozen=True)
class OpenTask:
    """A task the step left ready, with its due date and the persons it goes to resolved
    as it became ready (for tasks that were ready before the step, left empty)."""

    id: str
    element_id: str
    due_at: dt.datetime | None
    assignee: str | None = None
    candidate_users: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepOutcome:
    """The instance after a step, and what it waited for before it."""

    state_json: str  # the instance's state as JSON text, stored as it is
    status: str
    error: str | None
    error_element: str | None
    data: dict[str, Any]
    cleaned: dict[str, Any]
    ready: tuple[OpenTask, ...]
    timers: tuple[PendingTimer, ...]
    ready_before: frozenset[str]
    timers_before: frozenset[str]
    timer_fired: bool = True
    # Tasks ready before the step that a countersign's completion condition withdrew.
    withdrawn: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """Everything but the state, which travels beside it as text."""
        return {
            "status": self.status, "error": self.error,
            "error_element": self.error_element, "data": self.data, "cleaned": self.cleaned,
            "ready": [[task.id, task.element_id, _iso(task.due_at), task.assignee,
                       list(task.candidate_users)] for task in self.ready],
            "timers": [[timer.id, timer.element_id, timer.name, _iso(timer.due_at)]
                       for timer in self.timers],
            "ready_before": sorted(self.ready_before),
            "timers_before": sorted(self.timers_before), "timer_fired": self.timer_fired,
            "withdrawn": sorted(self.withdrawn),
        }

    @classmethod
    def from_json(cls, dct: dict[str, Any], state_json: str) -> "StepOutcome":
        return cls(
            state_json=state_json, status=dct["status"], error=dct["error"],
            error_element=dct["error_element"], data=dct["data"], cleaned=dct["cleaned"],
            ready=tuple(OpenTask(task_id, element_id, _from_iso(due), assignee, tuple(candidates))
                        for task_id, element_id, due, assignee, candidates in dct["ready"]),
            timers=tuple(PendingTimer(timer_id, element_id, name, parse_datetime(due))
                         for timer_id, element_id, name, due in dct["timers"]),
            ready_before=frozenset(dct["ready_before"]),
            timers_before=frozenset(dct["timers_before"]), timer_fired=dct["timer_fired"],
            withdrawn=frozenset(dct["withdrawn"]))


class StepRefused(EngineError):
    """The step could not be taken (task not ready, invalid form); nothing changed.

    `kind` is "task_not_ready" or "form"; `errors` the form's field messages.
    """

    def __init__(self, kind: str, message: str, errors: dict[str, list[str]] | None = None):
        self.kind = kind
        self.errors = errors or {}
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        """Everything but the state, which travels beside it as text."""
        return {"kind": self.kind, "message": str(self), "errors": self.errors}


def run_step(model: ProcessModel, state: dict[str, Any] | None, action: dict[str, Any],
             now: dt.datetime, org: OrgSnapshot | None = None) -> StepOutcome:
    """Take one step. `action` is {"kind": "start", "data", "started_by"}, {"kind":
    "complete", "task_id", "data"} or {"kind": "fire_timer", "timer_id"}. `org` is needed
    when the model routes duties to persons. Raises StepRefused."""
    kind = action["kind"]
    try:
        if kind == START:
            instance = Instance.start(model, action.get("data"), action.get("started_by"))
            return _outcome(instance, frozenset(), frozenset(), {}, now, org=org)
        if state is None:
            raise TaskNotReady("the instance has no state")
        instance = Instance.restore(model, state)
        ready, timers = instance.waiting()
        ready_before = frozenset(task.id for task in ready)
        timers_before = frozenset(timer.id for timer in timers)
        if kind == COMPLETE:
            cleaned = instance.complete(action["task_id"], action.get("data") or {})
            return _outcome(instance, ready_before, timers_before, cleaned, now, org=org)
        if kind == FIRE_TIMER:
            try:
                instance.fire_timer(action["timer_id"])
            except TaskNotReady:
                return _outcome(instance, ready_before, timers_before, {}, now, fired=False,
                                org=org)
            return _outcome(instance, ready_before, timers_before, {}, now, org=org)
    except FormValidationError as err:
        raise StepRefused("form", str(err), err.errors) from None
    except TaskNotReady as err:
        raise StepRefused("task_not_ready", str(err)) from None
    raise ValueError(f"unknown step kind {kind!r}")


def _outcome(instance: Instance, ready_before: frozenset[str], timers_before: frozenset[str],
             cleaned: dict[str, Any], now: dt.datetime, fired: bool = True,
             org: OrgSnapshot | None = None) -> StepOutcome:
    open_tasks = _open_tasks(instance, ready_before, now, org)
    _, timers = instance.waiting()
    gone = ready_before - {task.id for task in open_tasks}
    error = instance.error
    return StepOutcome(
        state_json=json.dumps(instance.dump(), separators=(",", ":")), status=instance.status, error=str(error) if error else None,
        error_element=error.element_id if error else None, data=json_safe(instance.data),
        cleaned=json_safe(cleaned), ready=open_tasks, timers=tuple(timers),
        ready_before=ready_before, timers_before=timers_before, timer_fired=fired,
        withdrawn=instance.withdrawn(gone) if gone else frozenset())


def _open_tasks(instance: Instance, ready_before: frozenset[str], now: dt.datetime,
                org: OrgSnapshot | None) -> tuple[OpenTask, ...]:
    """The ready tasks, the new ones with due date and persons resolved. A new task whose
    persons cannot be resolved is put in error instead (never a task nobody can do)."""
    open_tasks = []
    for task in instance.ready_tasks():
        if task.id in ready_before:
            open_tasks.append(OpenTask(task.id, task.element_id, None))
            continue
        data = instance.task_data(task.id)
        try:
            assignee, candidates = resolve(task.duty, data, org)
        except RoutingError as err:
            instance.fail_task(task.id, str(err))
            continue
        open_tasks.append(OpenTask(task.id, task.element_id,
                                   resolve_due_at(task.duty.due_date, data, now),
                                   assignee, candidates))
    return tuple(open_tasks)


def json_safe(value: Any) -> Any:
    """Process data as JSON: Decimals as strings (never floats), dates as ISO text."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _from_iso(text: str | None) -> dt.datetime | None:
    return parse_datetime(text) if text is not None else None

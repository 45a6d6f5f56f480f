"""One engine step as plain data in, plain data out: what a sandbox worker runs.

A step is everything the engine does for one use case: restore the instance (or create
it), start it, complete a task or fire a timer, run to the next wait state, resolve the
new tasks' due dates and dump the state. Requests and outcomes are JSON-ready dicts, so
the step can run in another process (`engine.sandbox_pool`) and nothing the diagram's
code touched travels back but data.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import migration
from .deadlines import parse_datetime, resolve_due_at
from .errors import EngineError, FormValidationError, MoveRefused, TaskNotReady
from .model import ProcessModel
from .people import OrgSnapshot, RoutingError, resolve
from . import sandbox
from .runtime import Instance, PendingEvent, PendingTimer, ReadyCall, ReadyExternal

START, COMPLETE, FIRE_TIMER = "start", "complete", "fire_timer"
COMPLETE_EXTERNAL = "complete_external"
# Repairs people make to an instance (services.workflow.repair): they run diagram code
# (retry, move) or restore its state (all three), so they run in the sandbox too.
RETRY, FIX_DATA, MOVE = "retry", "fix_data", "move"
CATCH = "catch"  # a message or signal delivered to an instance that waits for it
# A call activity's child instance ended (engine.calls): its data crosses back and the
# caller runs on; or no process could be called: the calls go in error (an incident).
COMPLETE_CALL, FAIL_CALLS = "complete_call", "fail_calls"
# Re-host the instance on another version (services.workflow.migration): runs no diagram
# code but the new deadlines and timers, which are the designer's expressions.
MIGRATE = "migrate"


@dataclass(frozen=True)
class OpenTask:
    """A task the step left ready, with its due date and the persons it goes to resolved
    as it became ready (for tasks that were ready before the step, left empty)."""

    id: str
    element_id: str
    due_at: dt.datetime | None
    assignee: str | None = None
    candidate_users: tuple[str, ...] = ()
    # Group names a candidateGroups expression gave (engine.people), owners besides the
    # duty's lane and literal groups.
    candidate_groups: tuple[str, ...] = ()
    # Its local variables (input parameters, engine.io_mapping) as it became ready.
    locals: dict[str, Any] | None = None


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
    external: tuple[ReadyExternal, ...] = ()  # tasks waiting for an external worker
    external_before: frozenset[str] = frozenset()
    elements: tuple[str, ...] = ()  # what a repair acted on: retried, fixed or moved
    events: tuple[PendingEvent, ...] = ()  # messages and signals waited for after it
    events_before: frozenset[str] = frozenset()
    # Tasks ready before the step that a countersign's completion condition withdrew.
    withdrawn: frozenset[str] = frozenset()
    calls: tuple[ReadyCall, ...] = ()  # call activities waiting for a child instance
    calls_before: frozenset[str] = frozenset()
    # {"code", "name"} of the error end event a completed instance ended at.
    ended_in_error: dict[str, Any] | None = None


    def to_json(self) -> dict[str, Any]:
        """Everything but the state, which travels beside it as text."""
        return {
            "status": self.status, "error": self.error,
            "error_element": self.error_element, "data": self.data, "cleaned": self.cleaned,
            "ready": [[task.id, task.element_id, _iso(task.due_at), task.assignee,
                       list(task.candidate_users), list(task.candidate_groups), task.locals]
                      for task in self.ready],
            "timers": [[timer.id, timer.element_id, timer.name, _iso(timer.due_at)]
                       for timer in self.timers],
            "ready_before": sorted(self.ready_before),
            "timers_before": sorted(self.timers_before), "timer_fired": self.timer_fired,
            "external": [[task.id, task.element_id, task.topic, task.variables]
                         for task in self.external],
            "external_before": sorted(self.external_before),
            "elements": list(self.elements),
            "events": [[event.id, event.element_id, event.kind, event.name]
                       for event in self.events],
            "events_before": sorted(self.events_before),
            "withdrawn": sorted(self.withdrawn),
            "calls": [dataclasses.astuple(call) for call in self.calls],
            "calls_before": sorted(self.calls_before),
            "ended_in_error": self.ended_in_error,
        }

    @classmethod
    def from_json(cls, dct: dict[str, Any], state_json: str) -> "StepOutcome":
        return cls(
            state_json=state_json, status=dct["status"], error=dct["error"],
            error_element=dct["error_element"], data=dct["data"], cleaned=dct["cleaned"],
            ready=tuple(OpenTask(task_id, element_id, _from_iso(due), assignee, tuple(candidates),
                                 tuple(groups), local_data)
                        for task_id, element_id, due, assignee, candidates, groups, local_data
                        in dct["ready"]),
            timers=tuple(PendingTimer(timer_id, element_id, name, parse_datetime(due))
                         for timer_id, element_id, name, due in dct["timers"]),
            ready_before=frozenset(dct["ready_before"]),
            timers_before=frozenset(dct["timers_before"]), timer_fired=dct["timer_fired"],
            external=tuple(ReadyExternal(*task) for task in dct["external"]),
            external_before=frozenset(dct["external_before"]),
            elements=tuple(dct["elements"]),
            events=tuple(PendingEvent(*event) for event in dct["events"]),
            events_before=frozenset(dct["events_before"]),
            withdrawn=frozenset(dct["withdrawn"]),
            calls=tuple(ReadyCall(*call) for call in dct.get("calls", ())),
            calls_before=frozenset(dct.get("calls_before", ())),
            ended_in_error=dct.get("ended_in_error"))


class StepRefused(EngineError):
    """The step could not be taken (task not ready, invalid form); nothing changed.

    `kind` is "task_not_ready", "form", "state" (a version that does not fit the
    instance), "move" (a move asked wrongly) or "idle" (no token at the element to move
    from); `errors` the field messages.
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
    """Take one step. `action` is {"kind": "start", "data", "started_by"}, {"kind": "complete",
    "task_id", "data"}, {"kind": "complete_external", "task_id", "data"},
    {"kind": "fire_timer", "timer_id"}, {"kind": "retry"},
    {"kind": "fix_data", "set", "unset"}, {"kind": "move", "from", "to"},
    {"kind": "catch", "event": "message" | "signal", "name", "data"} or
    {"kind": "migrate", "mapping", "replan", "redue": {task_id: ready since}} (run on the
    model of the version migrated to).
    `org` is needed when the model routes duties to persons. Raises StepRefused."""
    kind = action["kind"]
    try:
        if kind == START:
            instance = Instance.start(model, action.get("data"), action.get("started_by"),
                                      called=bool(action.get("called")))
            return _outcome(instance, _Before(), {}, now, org=org)
        if state is None:
            raise TaskNotReady("the instance has no state")
        if kind == MIGRATE:
            return _migrate(model, state, action, now, org)
        instance = _restore(model, state)
        before = _Before.of(instance)
        if kind == COMPLETE:
            cleaned = instance.complete(action["task_id"], action.get("data") or {})
            return _outcome(instance, before, cleaned, now, org=org)
        if kind == COMPLETE_EXTERNAL:
            cleaned = instance.complete_external(action["task_id"], action.get("data") or {})
            return _outcome(instance, before, cleaned, now, org=org)
        if kind == FIRE_TIMER:
            try:
                instance.fire_timer(action["timer_id"])
            except TaskNotReady:
                return _outcome(instance, before, {}, now, fired=False, org=org)
            return _outcome(instance, before, {}, now, org=org)
        if kind == RETRY:
            retried = instance.retry()
            return _outcome(instance, before, {}, now, elements=retried, org=org)
        if kind == FIX_DATA:
            fixed = instance.fix_data(action["set"], action["unset"])
            return _outcome(instance, before, {}, now, elements=fixed, org=org)
        if kind == CATCH:
            caught = instance.catch(action["event"], action["name"], action.get("data") or {})
            return _outcome(instance, before, {}, now, elements=caught, org=org)
        if kind == MOVE:
            cancelled = instance.move(action["from"], action["to"])
            return _outcome(instance, before, {}, now, elements=cancelled, org=org)
        if kind == COMPLETE_CALL:
            received = instance.complete_call(action["task_id"], action.get("data") or {},
                                              action.get("error"))
            return _outcome(instance, before, received, now, org=org)
        if kind == FAIL_CALLS:
            instance.fail_calls(action["failures"])
            return _outcome(instance, before, {}, now, elements=sorted(action["failures"]),
                            org=org)
    except MoveRefused as err:
        raise StepRefused("idle" if err.idle else "move", str(err), {err.field: [str(err)]}) \
            from None
    except FormValidationError as err:
        raise StepRefused("form", str(err), err.errors) from None
    except TaskNotReady as err:
        raise StepRefused("task_not_ready", str(err)) from None
    raise ValueError(f"unknown step kind {kind!r}")


def _restore(model: ProcessModel, state: dict[str, Any]) -> Instance:
    """The instance on `model`, refused (not failed) when its state holds an element the
    model lacks: a retry on a fixed version whose diagram dropped a step already taken."""
    held = {task["task_spec"] for task in state["workflow"]["tasks"].values()}
    missing = sorted(held - model.spec.task_specs.keys())
    if missing:
        raise StepRefused("state", f"this diagram of {model.key} lacks "
                                   f"{', '.join(missing)}, which the instance's state holds")
    return Instance.restore(model, state)


def _migrate(model: ProcessModel, state: dict[str, Any], action: dict[str, Any],
             now: dt.datetime, org: OrgSnapshot | None) -> StepOutcome:
    """The instance re-hosted on `model` (engine.migration), its timers in "replan"
    planned again, and the deadlines of the ready tasks in "redue" (their element's
    deadline changed) resolved again from when each became ready."""
    mapping = action.get("mapping") or {}
    names = migration.names_of(model)
    checked = migration.check(state, names, mapping, migration.elements_of(model))
    if not checked.migratable:
        raise StepRefused("state", "; ".join(checked.unmapped))
    instance = Instance.restore(model, migration.rehost(state, names, mapping))
    before = _Before.of(instance)
    planned = instance.rehome(list(action.get("replan") or []))
    outcome = _outcome(instance, before, {}, now, elements=planned, org=org)
    redue = action.get("redue") or {}
    ready = tuple(dataclasses.replace(task, due_at=resolve_due_at(
        model.duties[task.element_id].due_date, instance.task_data(task.id),
        parse_datetime(redue[task.id]))) if task.id in redue else task
        for task in outcome.ready)
    return dataclasses.replace(outcome, ready=ready)


@dataclass(frozen=True)
class _Before:
    """What the instance waited for before the step (the rows that mirror it): ready
    tasks, pending timers, awaited messages and signals, tasks for external workers."""

    ready: frozenset[str] = frozenset()
    timers: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    external: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()

    @classmethod
    def of(cls, instance: Instance) -> "_Before":
        ready, timers, events = instance.waiting()
        return cls(frozenset(task.id for task in ready), frozenset(timer.id for timer in timers),
                   frozenset(event.id for event in events),
                   frozenset(task.id for task in instance.ready_external()),
                   frozenset(task_id for task_id, _ in instance.ready_calls())
                   if instance.model.calls else frozenset())


def _outcome(instance: Instance, before: _Before, cleaned: dict[str, Any], now: dt.datetime,
             fired: bool = True, elements: list[str] | tuple[str, ...] = (),
             org: OrgSnapshot | None = None) -> StepOutcome:
    open_tasks = _open_tasks(instance, before.ready, now, org)
    calls = _calls(instance, before.calls) if instance.model.calls else ()
    _, timers, events = instance.waiting()
    gone = before.ready - {task.id for task in open_tasks}
    error = instance.error
    return StepOutcome(
        state_json=json.dumps(instance.dump(), separators=(",", ":")), status=instance.status, error=str(error) if error else None,
        error_element=error.element_id if error else None, data=json_safe(instance.data),
        cleaned=json_safe(cleaned), ready=open_tasks, timers=tuple(timers),
        ready_before=before.ready, timers_before=before.timers, timer_fired=fired,
        external=tuple(instance.ready_external()), external_before=before.external,
        elements=tuple(elements), events=tuple(events), events_before=before.events,
        withdrawn=instance.withdrawn(gone) if gone else frozenset(),
        calls=calls, calls_before=before.calls,
        ended_in_error=instance.ended_in_error() if instance.status == "completed" else None)


def _calls(instance: Instance, before: frozenset[str]) -> tuple[ReadyCall, ...]:
    """The waiting calls; the new ones with their child's start variables. A new call
    whose input mappings fail is put in error instead (the instance has an incident)."""
    found = []
    for task_id, element_id in instance.ready_calls():
        spec = instance.model.calls[element_id]
        if task_id in before:
            found.append(ReadyCall(task_id, element_id, spec.called, spec.binding,
                                   spec.version))
            continue
        try:
            found.append(instance.call_request(task_id, element_id))
        except sandbox.SandboxError as err:
            instance.fail_task(task_id, f"input mapping of the call to {spec.called!r}: {err}")
    return tuple(found)


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
            routing = resolve(task.duty, data, org)
        except RoutingError as err:
            instance.fail_task(task.id, str(err))
            continue
        open_tasks.append(OpenTask(task.id, task.element_id,
                                   resolve_due_at(task.duty.due_date, data, now),
                                   routing.assignee, routing.candidate_users,
                                   routing.candidate_groups,
                                   json_safe(instance.task_locals(task.id)) or None))
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

"""Run one process instance: start it, list its work, complete tasks, fire timers.

An `Instance` wraps a SpiffWorkflow workflow for exactly one unit of work: the
services restore it from stored state, call one operation, and store `dump()`.
Failures in scripts or conditions never escape as library exceptions: the failing
task is marked, the instance reports status `error`, and its state stays loadable.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from . import sandbox, script_engine
from .compaction import compact
from .deadlines import parse_datetime
from .errors import EngineError, ExecutionError, FormValidationError, MoveRefused, TaskNotReady
from .model import DutySpec, InstanceStatus, ProcessModel
from .serialization import dump_state, restore_state

_SCRIPT_ENGINE = script_engine.make_script_engine()

# The statuses under the short names engine callers use.
RUNNING, COMPLETED, ERROR = InstanceStatus.RUNNING, InstanceStatus.COMPLETED, InstanceStatus.ERROR
# Gateway, script and other engine passes one step may take before it must reach a wait
# state (a person's task, a timer, the end): beyond it the diagram loops without end.
MAX_ENGINE_PASSES = 500
MAX_START_DATA_CHARS = 64_000


class LoopDetected(EngineError):
    """A step ran more engine passes than allowed without reaching a wait state."""

    def __init__(self, passes: int, elements: list[str]):
        self.element_id = elements[0] if elements else None
        super().__init__(f"the process ran {passes} gateway or script steps without reaching "
                         f"a wait state: it loops through {', '.join(elements)}")


@dataclass(frozen=True)
class ReadyTask:
    """A duty waiting for a person."""

    id: str
    duty: DutySpec

    @property
    def element_id(self) -> str:
        return self.duty.element_id


@dataclass(frozen=True)
class ReadyExternal:
    """A task waiting for an external worker on its topic."""

    id: str
    element_id: str
    topic: str


@dataclass(frozen=True)
class PendingTimer:
    """A timer event waiting to fire; `due_at` is UTC."""

    id: str
    element_id: str
    name: str
    due_at: dt.datetime


@dataclass(frozen=True)
class PendingEvent:
    """A receive task or catch event waiting for a message or a signal by name."""

    id: str
    element_id: str
    kind: str  # "message" or "signal"
    name: str


EVENT_KINDS = {"message": MessageEventDefinition, "signal": SignalEventDefinition}


class Instance:
    """One running (or finished) process instance of a `ProcessModel`."""

    def __init__(self, model: ProcessModel, workflow: BpmnWorkflow):
        self.model = model
        self._workflow = workflow
        self.error: ExecutionError | None = None

    @classmethod
    def start(cls, model: ProcessModel, data: dict[str, Any] | None = None,
              started_by: str | None = None) -> "Instance":
        """Create an instance and run it to its first wait; `data` is checked against the
        start form. The diagram's initiator variable, if any, is set to `started_by` after
        the data, so start data cannot claim someone else started it."""
        cleaned = check_start_data(model, data)
        workflow = BpmnWorkflow(model.spec, model.subprocess_specs, script_engine=_SCRIPT_ENGINE)
        start = workflow.get_next_task(state=TaskState.READY)
        start.data.update(cleaned)
        if model.initiator:
            start.data[model.initiator] = started_by
        instance = cls(model, workflow)
        instance._advance()
        return instance

    @classmethod
    def restore(cls, model: ProcessModel, state: dict[str, Any]) -> "Instance":
        return cls(model, restore_state(state, model, _SCRIPT_ENGINE))

    def dump(self) -> dict[str, Any]:
        return dump_state(self._workflow)

    @property
    def status(self) -> str:
        if self.error is not None or self._workflow.get_next_task(state=TaskState.ERROR):
            return ERROR
        return COMPLETED if self._workflow.is_completed() else RUNNING

    @property
    def data(self) -> dict[str, Any]:
        """The process data as of the most recent step."""
        last = self._workflow.last_task or self._workflow.task_tree
        return dict(last.data)

    def ready_tasks(self) -> list[ReadyTask]:
        return self.waiting()[0]

    def pending_timers(self) -> list[PendingTimer]:
        return self.waiting()[1]

    def waiting(self) -> tuple[list[ReadyTask], list[PendingTimer], list[PendingEvent]]:
        """What the instance waits for: people's ready tasks, pending timers, and messages
        and signals, read in one walk of the task tree (callers that mirror them need them
        together); subprocesses are walked for messages and signals only."""
        tasks, timers, events = [], [], []
        for task in self._workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
            if task.has_state(TaskState.READY):
                duty = self.model.duties.get(task.task_spec.bpmn_id) if task.task_spec.manual else None
                if duty is not None:
                    tasks.append(ReadyTask(id=str(task.id), duty=duty))
                continue
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, TimerEventDefinition):
                if (event := _pending_event(task)) is not None:
                    events.append(event)
                continue
            due = _timer_due(task._get_internal_data("event_value"))
            if due is not None:
                timers.append(PendingTimer(id=str(task.id), element_id=task.task_spec.bpmn_id,
                                           name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                                           due_at=due))
        for subprocess in self._workflow.subprocesses.values():
            events += [event for task in subprocess.get_tasks(state=TaskState.WAITING)
                       if (event := _pending_event(task)) is not None]
        return tasks, timers, events

    def awaited_events(self) -> list[PendingEvent]:
        """The messages and signals the instance waits for, by name."""
        return self.waiting()[2]

    def catch(self, kind: str, name: str, data: dict[str, Any]) -> list[str]:
        """Deliver a message or signal `name` to the tasks waiting for it; its `data`
        becomes process variables there, then the instance runs to its next wait.
        Returns the element ids that caught it; TaskNotReady if none waits."""
        events = [event for event in self.awaited_events()
                  if event.kind == kind and event.name == name]
        if not events:
            raise TaskNotReady(f"nothing in this instance waits for the {kind} {name!r}")
        definition = self._find(events[0].id).task_spec.event_definition
        self._guarded(lambda: self._workflow.catch(BpmnEvent(definition,
                                                             payload=copy.deepcopy(data))))
        self._advance()
        return [event.element_id for event in events]

    def ready_external(self) -> list[ReadyExternal]:
        """Tasks waiting for an external worker (engine/external_tasks.py)."""
        return [ReadyExternal(str(task.id), spec.element_id, spec.topic)
                for task in self._workflow.get_tasks(state=TaskState.READY, manual=True)
                if (spec := self.model.external.get(task.task_spec.bpmn_id)) is not None]

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._find(task_id).data)

    def complete(self, task_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Complete a ready user task with form data; return the cleaned data recorded.

        Raises TaskNotReady or FormValidationError and then leaves the instance untouched.
        """
        task = self._find(task_id)
        if not task.has_state(TaskState.READY) or not task.task_spec.manual:
            raise TaskNotReady(f"task {task_id} is not waiting for a person")
        duty = self.model.duties.get(task.task_spec.bpmn_id)
        if duty is None:
            raise TaskNotReady(f"task {task_id} is not a user task of {self.model.key}")
        cleaned = duty.form.validate(data, context=task.data)
        task.data.update(cleaned)
        if isinstance(task.parent.task_spec, MultiInstanceTask):
            _record_instance(task, cleaned)
        self._guarded(task.run)
        self._advance()
        return cleaned

    def complete_external(self, task_id: str, variables: dict[str, Any]) -> dict[str, Any]:
        """A worker's result: `variables` join the process data and the instance runs on.

        Raises TaskNotReady (and leaves the instance untouched) unless the task waits for
        a worker now."""
        task = self._find(task_id)
        if not task.has_state(TaskState.READY) or \
                task.task_spec.bpmn_id not in self.model.external:
            raise TaskNotReady(f"task {task_id} is not waiting for an external worker")
        cleaned = check_variables(variables)
        task.data.update(cleaned)
        # A service task's run does nothing and leaves it started, as if still at work:
        # the worker's answer is what completes it.
        self._guarded(lambda: task.run() is None and task.complete())
        self._advance()
        return cleaned

    def withdrawn(self, task_ids: frozenset[str]) -> frozenset[str]:
        """Of `task_ids`, the instances of a multi-instance user task cancelled because its
        completion condition held (a countersign that no longer needs them), not because
        the whole task was (an interrupting event, the process ending)."""
        found = (self._workflow.tasks.get(UUID(task_id)) for task_id in task_ids)
        return frozenset(str(task.id) for task in found
                         if task is not None and task.has_state(TaskState.CANCELLED)
                         and isinstance(task.parent.task_spec, MultiInstanceTask)
                         and not task.parent.has_state(TaskState.CANCELLED))

    def fail_task(self, task_id: str, message: str) -> None:
        """Put a ready task in error (nobody can be given it): the instance reports status
        `error` naming the task's element, and the task is no longer waiting."""
        task = self._find(task_id)
        task.error()
        if self.error is None:
            self.error = ExecutionError(message, task.task_spec.bpmn_id)

    def fire_timer(self, timer_id: str) -> None:
        """Fire one waiting timer now; the caller decides it is due (the database is the clock)."""
        task = self._find(timer_id)
        definition = getattr(task.task_spec, "event_definition", None)
        if not task.has_state(TaskState.WAITING) or not isinstance(definition, TimerEventDefinition):
            raise TaskNotReady(f"timer {timer_id} is not waiting")
        task._set_internal_data(event_fired=True)
        self._guarded(lambda: task.task_spec._update(task))
        self._advance()

    def retry(self) -> list[str]:
        """Run the failed steps again, after their data or their diagram was fixed: every
        task in error is reset to run with its data as it is now, then the instance runs
        to its next wait. With none in error (a loop was cut short, a worker was stopped
        before the state changed) it simply runs on. Returns the element ids retried."""
        failed = [task for workflow in self._workflows()
                  for task in workflow.get_tasks(state=TaskState.ERROR)]
        for task in failed:
            self._guarded(lambda task=task: self._workflow.reset_from_task_id(task.id,
                                                                              data=task.data))
        self._advance()
        return [task.task_spec.bpmn_id for task in failed]

    def fix_data(self, values: dict[str, Any], unset: list[str]) -> list[str]:
        """Set and unset process variables where the instance goes on from: its tasks in
        error, ready or waiting (the data a retried step reads). The first of them in the
        top-level process becomes the last task, so `data` shows the fix. Returns the
        element ids changed."""
        live = [task for workflow in self._workflows() for task in workflow.get_tasks(
            state=TaskState.ERROR | TaskState.READY | TaskState.WAITING | TaskState.STARTED)]
        for task in live:
            task.data.update(copy.deepcopy(values))
            for name in unset:
                task.data.pop(name, None)
        top = sorted((task for task in live if task.workflow is self._workflow),
                     key=lambda task: not task.has_state(TaskState.ERROR))
        if top:
            self._workflow.last_task = top[0]
        return sorted({task.task_spec.bpmn_id for task in live if task.task_spec.bpmn_id})

    def move(self, source: str, target: str) -> list[str]:
        """Cancel the token(s) at element `source` and start one at element `target` of the
        same (sub)process: Camunda's process instance modification. The activities left
        are cancelled, never completed, together with their boundary events; the new
        token starts with the data the cancelled one had. Returns the task ids cancelled.

        Raises MoveRefused: `source` unknown or idle, `target` unknown, elsewhere, or a
        start or boundary event (those are entered by events, not by a token).
        """
        live = [task for workflow in self._workflows() for task in workflow.get_tasks(
            state=TaskState.READY | TaskState.WAITING | TaskState.ERROR | TaskState.STARTED)
            if task.task_spec.bpmn_id == source]
        if not live:
            known = any(spec.bpmn_id == source for workflow in self._workflows()
                        for spec in workflow.spec.task_specs.values())
            raise MoveRefused("from", f"no token waits at {source}" if known else
                              f"{source} is not an element of {self.model.key}", idle=known)
        workflow = live[0].workflow
        specs = workflow.spec.task_specs.values()
        spec = next((spec for spec in specs if spec.bpmn_id == target), None)
        if spec is None:
            raise MoveRefused("to", f"{target} is not an element of the process that holds "
                                    f"{source}")
        if isinstance(spec, (StartEvent, BoundaryEvent)):
            raise MoveRefused("to", f"{target} is a start or boundary event: a token cannot "
                                    "be moved to it")
        # An activity with boundary events is entered through their split.
        entry = next((split for split in specs if isinstance(split, BoundaryEventSplit)
                      and spec in split.outputs), spec)
        first = live[0]
        # Leave an activity together with its boundary events.
        anchor = first.parent if isinstance(first.parent.task_spec, BoundaryEventSplit) \
            else first
        data = copy.deepcopy(first.data)
        cancelled = [str(task.id) for task in live]
        for task in live:
            if task.has_state(TaskState.ERROR):  # counts as finished: reopened to be cancelled
                task._set_state(TaskState.READY)
            task.cancel()
        if anchor is not first:
            anchor.cancel()
        entered = anchor.parent._add_child(entry, TaskState.FUTURE)
        entered.data = data
        # As SpiffWorkflow's own branch reset does: predict what follows, then enter it.
        self._guarded(lambda: entry._predict(entered,
                                             mask=TaskState.PREDICTED_MASK | TaskState.FUTURE))
        self._guarded(lambda: entry._update(entered))
        self._advance()
        return cancelled

    def rehome(self, replan: list[str]) -> list[str]:
        """Right after a migrated state was restored on the new model
        (engine.migration.rehost): predict what follows each live task from the new
        diagram, and plan again the timers in `replan` (element ids whose timer changed).
        Runs nothing. Returns the element ids of the timers planned again."""
        planned = []
        for workflow in self._workflows():
            for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING
                                           | TaskState.STARTED):
                if not task.children and task.task_spec.outputs:
                    task.task_spec._predict(task, mask=TaskState.PREDICTED_MASK
                                            | TaskState.DEFINITE_MASK)
                definition = getattr(task.task_spec, "event_definition", None)
                if task.has_state(TaskState.WAITING) and task.task_spec.bpmn_id in replan \
                        and isinstance(definition, TimerEventDefinition):
                    task.internal_data.pop("event_value", None)
                    self._guarded(lambda task=task: task.task_spec._update(task))
                    planned.append(task.task_spec.bpmn_id)
        return planned

    def _workflows(self) -> list[BpmnWorkflow]:
        return [self._workflow, *self._workflow.subprocesses.values()]

    def _find(self, task_id: str):
        try:
            task = self._workflow.get_task_from_id(UUID(str(task_id)))
        except (ValueError, SpiffWorkflowException):
            task = None
        if task is None:
            raise TaskNotReady(f"task {task_id} does not exist in this instance")
        return task

    def _advance(self) -> None:
        self._guarded(lambda: self._workflow.do_engine_steps(
            did_complete_task=_PassCounter(MAX_ENGINE_PASSES)))
        compact(self._workflow)

    def _guarded(self, step) -> None:
        if self.error is not None:
            return
        try:
            step()
        except (SpiffWorkflowException, sandbox.SandboxError) as err:
            self.error = _execution_error(err)
        except LoopDetected as err:
            self.error = ExecutionError(str(err), err.element_id)


def _record_instance(task, cleaned: dict[str, Any]) -> None:
    """Before one instance of a multi-instance user task (a countersign) completes: give
    it Camunda's counters for the completion condition, and add its outcome to the list
    `<collection>_outcomes` in the process data later elements read.

    SpiffWorkflow keeps only each instance's element variable; the outcome (the form
    data, with the element variable) would otherwise be lost.
    """
    parent, spec = task.parent, task.parent.task_spec
    instances = [child for child in parent.children if child.task_spec is task.task_spec]
    merged = len(parent.internal_data.get("merged", []))
    remaining = len(parent.internal_data.get("remaining", []))
    active = sum(1 for child in instances if not child.has_state(TaskState.FINISHED_MASK))
    task.data.update(nrOfInstances=len(instances) + remaining, nrOfCompletedInstances=merged + 1,
                     nrOfActiveInstances=active - 1)
    if spec.output_item is None or spec.data_output is None:
        return  # counted (loopCardinality), not over a collection: no list to add to
    variable = spec.output_item.bpmn_id
    outcomes = parent.data.setdefault(f"{spec.data_output.bpmn_id}_outcomes", [])
    outcomes.append({variable: task.data.get(variable), **cleaned})


class _PassCounter:
    """Counts engine passes per element during one step; past the limit, names the loop
    (the elements passed most often, in diagram order of first pass)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.passes: dict[str, int] = {}
        self.total = 0

    def __call__(self, task) -> None:
        element = task.task_spec.bpmn_id or task.task_spec.name
        self.passes[element] = self.passes.get(element, 0) + 1
        self.total += 1
        if self.total > self.limit:
            most = max(self.passes.values())
            looping = [name for name, count in self.passes.items() if count * 2 >= most]
            raise LoopDetected(self.total - 1, looping)


def _execution_error(err: Exception) -> ExecutionError:
    task = getattr(err, "task", None)
    element_id = task.task_spec.bpmn_id if task is not None else None
    cause = getattr(err, "exception", None) or err
    message = str(cause) if isinstance(cause, sandbox.SandboxError) else str(err)
    return ExecutionError(message.splitlines()[0] if message else type(err).__name__, element_id)


def _pending_event(task) -> PendingEvent | None:
    """A waiting task's message or signal, if it waits for one by name."""
    definition = getattr(task.task_spec, "event_definition", None)
    kind = next((kind for kind, cls in EVENT_KINDS.items() if isinstance(definition, cls)), None)
    if kind is None or not definition.name:
        return None
    return PendingEvent(str(task.id), task.task_spec.bpmn_id, kind, definition.name)


def _timer_due(event_value: Any) -> dt.datetime | None:
    if isinstance(event_value, dict):  # cycle timers keep their next occurrence
        event_value = event_value.get("next")
    if not isinstance(event_value, str):
        return None
    return parse_datetime(event_value)


def check_start_data(model: ProcessModel, data: Any) -> dict[str, Any]:
    """The start data as the instance will hold it: with a start form, only its fields
    (checked by type); without one, plain variables. At most MAX_START_DATA_CHARS of JSON
    either way, so nobody parks megabytes in an instance that every step then carries."""
    data = {} if data is None else data
    _check_size(data, "Start data")
    return model.start_form.validate(data) if model.start_form.fields else \
        _plain_data(data, "Start data")


def check_variables(data: Any) -> dict[str, Any]:
    """Variables set from outside a form (a worker's result, a person's data fix): plain
    variables usable in expressions, at most as much as start data."""
    _check_size(data, "Variables")
    return _plain_data(data, "Variables")


def _check_size(data: Any, what: str) -> None:
    try:
        size = len(json.dumps(data, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        raise FormValidationError({"_schema": [f"{what} must be JSON."]}) from None
    if size > MAX_START_DATA_CHARS:
        raise FormValidationError({"_schema": [
            f"{what} is {size} characters of JSON; the limit is {MAX_START_DATA_CHARS}."]})


def _plain_data(data: Any, what: str) -> dict[str, Any]:
    """Data without a form: accepted only as plain variables usable in expressions."""
    if not isinstance(data, dict):
        raise FormValidationError({"_schema": [f"{what} must be a JSON object."]})
    bad = [key for key in data if not isinstance(key, str) or not key.isidentifier()
           or key.startswith("_")]
    if bad:
        raise FormValidationError({key: ["Not a valid variable name."] for key in map(str, bad)})
    return dict(data)

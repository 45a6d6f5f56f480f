"""Run one process instance: start it, list its work, complete tasks, fire timers.

An `Instance` wraps a SpiffWorkflow workflow for exactly one unit of work: the
services restore it from stored state, call one operation, and store `dump()`.
Failures in scripts or conditions never escape as library exceptions: the failing
task is marked, the instance reports status `error`, and its state stays loadable.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from . import sandbox
from .compaction import compact
from .deadlines import parse_datetime
from .errors import EngineError, ExecutionError, FormValidationError, TaskNotReady
from .model import DutySpec, InstanceStatus, ProcessModel
from .serialization import dump_state, restore_state

_SCRIPT_ENGINE = sandbox.make_script_engine()

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
class PendingTimer:
    """A timer event waiting to fire; `due_at` is UTC."""

    id: str
    element_id: str
    name: str
    due_at: dt.datetime


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

    def waiting(self) -> tuple[list[ReadyTask], list[PendingTimer]]:
        """What the instance waits for: people's ready tasks and pending timers, read in
        one walk of the task tree (callers that mirror both need them together)."""
        tasks, timers = [], []
        for task in self._workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
            if task.has_state(TaskState.READY):
                duty = self.model.duties.get(task.task_spec.bpmn_id) if task.task_spec.manual else None
                if duty is not None:
                    tasks.append(ReadyTask(id=str(task.id), duty=duty))
                continue
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, TimerEventDefinition):
                continue
            due = _timer_due(task._get_internal_data("event_value"))
            if due is not None:
                timers.append(PendingTimer(id=str(task.id), element_id=task.task_spec.bpmn_id,
                                           name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                                           due_at=due))
        return tasks, timers

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
        cleaned = duty.form.validate(data)
        task.data.update(cleaned)
        if isinstance(task.parent.task_spec, MultiInstanceTask):
            _record_instance(task, cleaned)
        self._guarded(task.run)
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
    try:
        size = len(json.dumps(data, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        raise FormValidationError({"_schema": ["Start data must be JSON."]}) from None
    if size > MAX_START_DATA_CHARS:
        raise FormValidationError({"_schema": [
            f"Start data is {size} characters of JSON; the limit is {MAX_START_DATA_CHARS}."]})
    return model.start_form.validate(data) if model.start_form.fields else _plain_data(data)


def _plain_data(data: Any) -> dict[str, Any]:
    """Start data without a start form: accepted only as plain variables usable in expressions."""
    if not isinstance(data, dict):
        raise FormValidationError({"_schema": ["Start data must be a JSON object."]})
    bad = [key for key in data if not isinstance(key, str) or not key.isidentifier()
           or key.startswith("_")]
    if bad:
        raise FormValidationError({key: ["Not a valid variable name."] for key in map(str, bad)})
    return dict(data)

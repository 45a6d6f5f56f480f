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
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (ErrorEventDefinition,
                                                                          SignalEventDefinition)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (CycleTimerEventDefinition,
                                                              TimerEventDefinition)
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import (BoundaryEvent,
                                                                        EventBasedGateway)
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from . import calls, conditional_events, expressions, sandbox, script_engine
from .io_mapping import HIDDEN as LOCALS
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
    """A task waiting for an external worker on its topic. `variables` are its own over
    the process data: an instance of a multi-instance task has its item (and Camunda's
    `loopCounter`) there."""

    id: str
    element_id: str
    topic: str
    variables: dict[str, Any] | None = None


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


@dataclass(frozen=True)
class ReadyCall:
    """A call activity waiting for its child instance (engine.calls). A call new in the
    step carries what the services need to start the child: the `variables` it starts
    with and its business key (calls.INHERIT_BUSINESS_KEY: the caller's); one that waited
    before the step carries None there."""

    id: str
    element_id: str
    called: str
    binding: str
    version: int | None
    variables: dict[str, Any] | None = None
    business_key: str | None = None


EVENT_KINDS = {"message": MessageEventDefinition, "signal": SignalEventDefinition}


class Instance:
    """One running (or finished) process instance of a `ProcessModel`."""

    def __init__(self, model: ProcessModel, workflow: BpmnWorkflow):
        self.model = model
        self._workflow = workflow
        self.error: ExecutionError | None = None

    @classmethod
    def start(cls, model: ProcessModel, data: dict[str, Any] | None = None,
              started_by: str | None = None, called: bool = False) -> "Instance":
        """Create an instance and run it to its first wait; `data` is checked against the
        start form (or, for a child instance `called` by another, taken as the plain
        variables its caller's mappings made). The diagram's initiator variable, if any, is
        set to `started_by` after the data, so start data cannot claim someone else started
        it."""
        cleaned = check_variables(data or {}) if called else check_start_data(model, data)
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
            events += _pending_events(task)
            timer = _timer_of(task)
            due = _timer_due(task._get_internal_data("event_value")) if timer else None
            if due is not None:
                element_id, spec = timer
                timers.append(PendingTimer(id=str(task.id), element_id=element_id,
                                           name=spec.bpmn_name or element_id, due_at=due))
        for subprocess in self._workflow.subprocesses.values():
            events += [event for task in subprocess.get_tasks(state=TaskState.WAITING)
                       for event in _pending_events(task)]
        # SpiffWorkflow's walk of the process reaches into subprocesses too: each once.
        return tasks, timers, list(dict.fromkeys(events))

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
        definition = next(definition for _, definition in _event_definitions(self._find(events[0].id))
                          if isinstance(definition, EVENT_KINDS[kind]) and definition.name == name)
        self._guarded(lambda: self._workflow.catch(BpmnEvent(definition,
                                                             payload=copy.deepcopy(data))))
        self._advance()
        return [event.element_id for event in events]

    def ready_external(self) -> list[ReadyExternal]:
        """Tasks waiting for an external worker (engine/external_tasks.py)."""
        return [ReadyExternal(str(task.id), spec.element_id, spec.topic, _instance_variables(task))
                for task in self._workflow.get_tasks(state=TaskState.READY, manual=True)
                if (spec := self.model.external.get(task.task_spec.bpmn_id)) is not None]

    def ready_calls(self) -> list[tuple[str, str]]:
        """(task id, element id) of the call activities waiting for a child instance."""
        return [(str(task.id), task.task_spec.bpmn_id)
                for task in self._workflow.get_tasks(state=TaskState.READY, manual=True)
                if task.task_spec.bpmn_id in self.model.calls]

    def call_request(self, task_id: str, element_id: str) -> ReadyCall:
        """What a new call starts its child with, its `camunda:in` / zeebe input mappings
        evaluated on the task's data (SandboxError when one fails)."""
        spec = self.model.calls[element_id]
        data = self._find(task_id).data
        variables = json_ready(calls.inputs_of(spec, data))
        return ReadyCall(task_id, element_id, spec.called, spec.binding, spec.version,
                         variables, calls.business_key_of(spec, data))

    def complete_call(self, task_id: str, child_data: dict[str, Any],
                      error: dict[str, Any] | None = None) -> dict[str, Any]:
        """The child instance of a call ended: its data crosses back by the call's output
        mappings and the instance runs on; `error` ({"code", "name"}: the child ended in an
        error end event) is thrown at the call activity instead, for a boundary error event
        to catch. Raises TaskNotReady unless the task waits for its child now."""
        task = self._find(task_id)
        spec = self.model.calls.get(task.task_spec.bpmn_id)
        if spec is None or not task.has_state(TaskState.READY):
            raise TaskNotReady(f"task {task_id} is not a call waiting for its child instance")
        if error is not None:
            return self._throw_error(task, error, child_data)
        try:
            received = calls.outputs_of(spec, child_data)
        except sandbox.SandboxError as err:
            self.fail_task(task_id, f"output mapping: {err}")
            return {}
        task.data.update(received)
        if isinstance(task.parent.task_spec, MultiInstanceTask):
            self._record_loop_output(task)
        self._guarded(lambda: task.run() is None and task.complete())
        self._advance()
        return received

    def _throw_error(self, task, error: dict[str, Any], child_data: dict[str, Any]
                     ) -> dict[str, Any]:
        """The child's error, caught by a boundary error event of the call activity whose
        code matches (or that names none); with none, the call fails (an incident)."""
        code = error.get("code")
        boundary = [child for child in (task.parent.children if isinstance(
                        task.parent.task_spec, BoundaryEventSplit) else [])
                    if isinstance(getattr(child.task_spec, "event_definition", None),
                                  ErrorEventDefinition)
                    and child.task_spec.event_definition.code in (None, "", code)]
        if not boundary:
            self.fail_task(str(task.id), f"the called instance ended with error "
                                         f"{code or error.get('name')!r}, which no boundary "
                                         "error event of the call activity catches")
            return {}
        definition = boundary[0].task_spec.event_definition
        self._guarded(lambda: self._workflow.catch(BpmnEvent(
            definition, payload=copy.deepcopy(child_data))))
        self._advance()
        return {}

    def fail_calls(self, failures: dict[str, str]) -> None:
        """Calls whose child could not start (no such process deployed): each task in
        error, so the instance is and an admin can retry it once the process is deployed."""
        for task_id, message in failures.items():
            self.fail_task(task_id, message)

    def ended_in_error(self) -> dict[str, Any] | None:
        """{"code", "name"} of the error end event a completed instance ended at, if it
        ended at one (its caller's boundary error event may catch it)."""
        for task in self._workflow.get_tasks(state=TaskState.COMPLETED):
            definition = getattr(task.task_spec, "event_definition", None)
            if isinstance(task.task_spec, EndEvent) and \
                    isinstance(definition, ErrorEventDefinition):
                return {"code": definition.code, "name": definition.name}
        return None

    def _record_loop_output(self, task) -> None:
        """Camunda 8's outputElement of one instance of a multi-instance task, put in its
        outputCollection at the position of the instance's item."""
        output = self.model.loop_outputs.get(task.task_spec.bpmn_id)
        if output is None:
            return
        collection, element = output
        parent = task.parent
        instances = [child for child in parent.children if child.task_spec is task.task_spec]
        total = len(instances) + len(parent.internal_data.get("remaining", []))
        results = parent.data.get(collection)
        if not isinstance(results, list) or len(results) != total:
            results = [None] * total
        try:
            value = expressions.evaluate(element, task.data)
        except sandbox.SandboxError as err:
            self.fail_task(str(task.id), f"outputElement: {err}")
            return
        position = task.internal_data.get("key_or_index", instances.index(task))
        if isinstance(position, int) and 0 <= position < total:
            results[position] = json_ready(value)
        parent.data[collection] = results
        task.data[collection] = results

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._find(task_id).data)

    def task_locals(self, task_id: str) -> dict[str, Any]:
        """The task's local variables: what its input parameters made (engine.io_mapping)."""
        task = self._find(task_id)
        return {name: task.data.get(name) for name in task.internal_data.get(LOCALS) or {}}

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
        cleaned = check_variables(data) if duty.form.external and not duty.form.fields \
            else duty.form.validate(data, context=task.data)
        task.data.update(cleaned)
        if isinstance(task.parent.task_spec, MultiInstanceTask):
            _record_instance(task, cleaned)
            self._record_loop_output(task)
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
        if isinstance(task.parent.task_spec, MultiInstanceTask):
            self._record_loop_output(task)
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
        timer = _timer_of(task)
        if not task.has_state(TaskState.WAITING) or timer is None:
            raise TaskNotReady(f"timer {timer_id} is not waiting")
        if timer[1] is task.task_spec and isinstance(task.task_spec.event_definition,
                                                     CycleTimerEventDefinition):
            # SpiffWorkflow gives a cycle's paths only to the occurrences it counts itself,
            # so a fired cycle would end its wait and run nothing: the occurrence due now
            # takes the timer's path, once (the worker fires each wait once).
            task._sync_children(task.task_spec.outputs, TaskState.FUTURE)
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
        passes = _PassCounter(MAX_ENGINE_PASSES)
        self._guarded(lambda: self._workflow.do_engine_steps(did_complete_task=passes))
        while self.model.conditional_events and self.error is None and self._fire_conditions():
            self._guarded(lambda: self._workflow.do_engine_steps(did_complete_task=passes))
        if self.model.event_subprocesses and self.error is None:
            self._guarded(self._settle_event_subprocesses)
        compact(self._workflow)

    def _fire_conditions(self) -> bool:
        """Fire the waiting conditional events whose condition holds over the live data
        (engine.conditional_events); True if any fired. Each firing counts as a pass of
        its element, so conditions that keep firing are an endless loop like any other."""
        waiting = [task for workflow in self._workflows()
                   for task in workflow.get_tasks(state=TaskState.WAITING)
                   if isinstance(getattr(task.task_spec, "event_definition", None),
                                 conditional_events.Watched)]
        if not waiting:
            return False
        data = self._live_data()
        fired = False
        for task in waiting:
            try:
                holds = conditional_events.due(task.task_spec.event_definition, data,
                                               expressions.evaluate)
            except sandbox.SandboxError as err:
                self.error = ExecutionError(f"condition: {err}", task.task_spec.bpmn_id)
                return False
            if holds:
                task.data.update(copy.deepcopy(data))
                task._set_internal_data(event_fired=True)
                self._guarded(lambda task=task: task.task_spec._update(task))
                fired = True
        return fired

    def _live_data(self) -> dict[str, Any]:
        """The process data as of the latest step anywhere in the instance, subprocesses
        included (a conditional event on a subprocess sees what its work has set)."""
        finished = [task for workflow in self._workflows()
                    for task in workflow.get_tasks(state=TaskState.COMPLETED)]
        latest = max(finished, key=lambda task: task.last_state_change, default=None)
        return dict(latest.data) if latest is not None else self.data

    # Event subprocesses (started with the process or subprocess around them, see
    # engine.spiff_parser): SpiffWorkflow neither interrupts for an interrupting one nor
    # ends one still waiting for its start event, which keeps the process (or subprocess)
    # around it from ever completing. As in Camunda: an interrupting event subprocess
    # cancels everything else in its scope once it starts, and a scope in which nothing
    # but event subprocesses waiting for their start is left completes.

    def _started(self, task) -> bool:
        """Whether an event subprocess's start event has fired."""
        subprocess = self._workflow.subprocesses.get(task.id)
        if subprocess is None:
            return task.has_state(TaskState.FINISHED_MASK)
        return any(isinstance(inner.task_spec, StartEvent)
                   and inner.has_state(TaskState.COMPLETED) for inner in subprocess.get_tasks())

    def _settle_event_subprocesses(self) -> None:
        for workflow in self._workflows():
            if not workflow.is_completed():
                self._settle_scope(workflow)

    def _settle_scope(self, workflow) -> None:
        root = workflow.task_tree
        scope = [task for task in root.children
                 if task.task_spec.bpmn_id in self.model.event_subprocesses]
        for task in scope:
            if self.model.event_subprocesses[task.task_spec.bpmn_id] and \
                    not root.internal_data.get("interrupted_by") and self._started(task):
                root.internal_data["interrupted_by"] = task.task_spec.bpmn_id
                for other in list(root.children):
                    if other is not task:
                        other.cancel()
        waiting = [task for task in scope
                   if not task.has_state(TaskState.FINISHED_MASK) and not self._started(task)]
        # The scope's closing join waits for the event subprocesses too: not work left.
        closing = (workflow.spec.end, workflow.spec.task_specs.get("End"),
                   workflow.spec.task_specs.get(f"{workflow.spec.name}.EndJoin"))
        others = [task for child in root.children if child not in waiting for task in child
                  if not task.has_state(TaskState.PREDICTED_MASK)
                  and task.task_spec not in closing]
        if waiting and all(task.has_state(TaskState.FINISHED_MASK) for task in others):
            for task in waiting:
                task.cancel()
            for task in others + [task for child in root.children for task in child
                                  if task.task_spec in closing]:
                if task.has_state(TaskState.WAITING) and task.task_spec in closing:
                    task.task_spec._update(task)  # the join sees the cancelled branches
            self._workflow.do_engine_steps()

    def _guarded(self, step) -> None:
        if self.error is not None:
            return
        try:
            step()
        except (SpiffWorkflowException, sandbox.SandboxError) as err:
            self.error = _execution_error(err)
        except LoopDetected as err:
            self.error = ExecutionError(str(err), err.element_id)


def _instance_variables(task) -> dict[str, Any] | None:
    """One instance of a multi-instance task: its item under the element variable, and
    its index as Camunda's `loopCounter`; None for any other task."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, MultiInstanceTask):
        return None
    item = parent.task_spec.input_item
    found = {"loopCounter": task.internal_data.get("key_or_index")}
    if item is not None and item.bpmn_id in task.data:
        found[item.bpmn_id] = copy.deepcopy(task.data[item.bpmn_id])
    return found


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
    collection = getattr(getattr(task, "task_spec", None), "data_input", None)
    if collection is not None and message.startswith("Missing data input for multiinstance"):
        # SpiffWorkflow's words for a camunda:collection that names nothing set yet.
        message = f"the multi-instance collection {collection.bpmn_id!r} is not in the process data"
    return ExecutionError(message.splitlines()[0] if message else type(err).__name__, element_id)


def _event_definitions(task) -> list[tuple[Any, Any]]:
    """(element spec, event definition) of what a waiting task waits for. An event-based
    gateway waits for the events of the catch events after it (SpiffWorkflow moves their
    definitions into the gateway's, in the order of its outgoing flows); a catch event
    with several definitions waits for each."""
    spec = task.task_spec
    definition = getattr(spec, "event_definition", None)
    if definition is None:
        return []
    if not isinstance(definition, MultipleEventDefinition):
        return [(spec, definition)]
    if isinstance(spec, EventBasedGateway):
        return list(zip(spec.outputs, definition.event_definitions))
    return [(spec, one) for one in definition.event_definitions]


def _pending_events(task) -> list[PendingEvent]:
    """A waiting task's messages and signals, those it waits for by name."""
    found = []
    for spec, definition in _event_definitions(task):
        kind = next((kind for kind, cls in EVENT_KINDS.items() if isinstance(definition, cls)),
                    None)
        if kind is not None and definition.name:
            found.append(PendingEvent(str(task.id), spec.bpmn_id, kind, definition.name))
    return found


def _timer_of(task) -> tuple[str, Any] | None:
    """(element id, element spec) of the timer a waiting task waits for, if any. A task
    keeps one due time, so of an event-based gateway's timers the first is the one."""
    return next(((spec.bpmn_id, spec) for spec, definition in _event_definitions(task)
                 if isinstance(definition, TimerEventDefinition)), None)


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


def json_ready(value: Any) -> Any:
    """Data crossing between instances (a call's variables) as JSON keeps it: Decimals as
    text, dates as ISO text, other objects as their text."""
    return json.loads(json.dumps(value, default=str))


def _plain_data(data: Any, what: str) -> dict[str, Any]:
    """Data without a form: accepted only as plain variables usable in expressions."""
    if not isinstance(data, dict):
        raise FormValidationError({"_schema": [f"{what} must be a JSON object."]})
    bad = [key for key in data if not isinstance(key, str) or not key.isidentifier()
           or key.startswith("_")]
    if bad:
        raise FormValidationError({key: ["Not a valid variable name."] for key in map(str, bad)})
    return dict(data)

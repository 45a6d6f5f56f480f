"""What a deployed process is, as the rest of DutyFlow sees it."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from collections.abc import Mapping
from typing import Any

from .errors import Problem
from .forms import FormSpec
from .labels import pick


class InstanceStatus(StrEnum):
    """Where a process instance stands. The engine reports running, completed and error;
    suspended and cancelled are set by people (services.workflow.lifecycle) and stored
    beside the engine's state, which they leave as it was."""

    RUNNING = "running"
    SUSPENDED = "suspended"  # tasks visible, nothing claimed, completed or fired
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # withdrawn by its starter or cancelled by a supervisor
    ERROR = "error"

    @property
    def finished(self) -> bool:
        """Nothing can happen to it any more."""
        return self in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)


@dataclass(frozen=True)
class DutySpec:
    """A user task: a duty owned by a department (its lane, or its candidate groups), or
    with neither, by the departments of the persons it names.

    `assignee` and `candidate_users` are the Camunda attributes as written: a username
    (a comma list of them) or one expression (`${...}`, `#{...}` or FEEL's `=...`),
    resolved when a task becomes ready (engine.people). `group_expression` is
    `camunda:candidateGroups` (or Zeebe's `candidateGroups`) when it is an expression: the
    groups it gives, resolved to departments like literal ones, own the task besides its
    lane and literal groups.
    """

    element_id: str
    name: str
    lane: str | None
    candidate_groups: tuple[str, ...]
    due_date: str | None
    form: FormSpec
    assignee: str | None = None
    candidate_users: str | None = None
    # ISO 8601 durations from when the task became ready (Camunda extension properties
    # `dutyflow:remindAfter`, `dutyflow:escalateAfter`); None: the department's default.
    remind_after: str | None = None
    escalate_after: str | None = None
    group_expression: str | None = None
    # camunda:properties of the task, (name, value) in document order (shown with the task).
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def names_people(self) -> bool:
        return self.assignee is not None or self.candidate_users is not None

    @property
    def routes_at_run_time(self) -> bool:
        """Whether making a task of it needs the org: persons named, or groups computed."""
        return self.names_people or self.group_expression is not None

    @property
    def owners(self) -> tuple[str, ...]:
        """Names that route to the departments allowed to do this duty."""
        return ((self.lane,) if self.lane else ()) + self.candidate_groups


@dataclass(frozen=True)
class ExternalSpec:
    """A task done by a worker outside DutyFlow (Camunda's external task): it waits until
    a worker that fetched its topic completes it. Never anyone's duty, never paid."""

    element_id: str
    name: str
    topic: str


@dataclass(frozen=True)
class ProcessModel:
    """A parsed, validated executable process, ready to start instances.

    `spec` and `subprocess_specs` are SpiffWorkflow objects; they are shared by every
    instance of this version and never mutated.
    """

    key: str
    name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    duties: dict[str, DutySpec]
    start_form: FormSpec = field(default_factory=FormSpec)
    start_form_element: str | None = None  # the start event whose form start_form is
    # Who may start it (services.access.may_start decides): Camunda's
    # candidateStarterGroups/-Users on the process, and the lanes of its start events.
    starter_groups: tuple[str, ...] = ()
    starter_users: tuple[str, ...] = ()
    start_lanes: tuple[str, ...] = ()
    external: dict[str, ExternalSpec] = field(default_factory=dict)
    # What deploys but does not run as drawn (a Java delegate waits for a worker instead).
    warnings: tuple[Problem, ...] = ()
    # camunda:initiator on the start event: the process variable that holds the starter.
    initiator: str | None = None
    # Every DMN decision deployed with it (engine.decisions.Decision by id), whether or not
    # its business rule tasks call them.
    decisions: Mapping[str, Any] = field(default_factory=dict)
    # Decisions its business rule tasks call that its deployment lacks: the latest deployed
    # decision with that id is used when the task runs (Camunda's "latest" binding).
    missing_decisions: tuple[str, ...] = ()
    # Forms its user tasks name by id that its deployment lacks (of any process of its
    # file): the latest deployed form with that id is shown (engine.form_references).
    missing_forms: tuple[str, ...] = ()
    # Translations of element names (engine.labels): {element id: {language tag: text}};
    # the process's own under its key.
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Call activities into processes of other files (engine.calls.CallSpec by element id):
    # each call starts a child instance; the task waits until it ends.
    calls: dict[str, Any] = field(default_factory=dict)
    # Camunda 8 multi-instance results (engine.loader.loop_outputs).
    loop_outputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The process's event subprocesses (engine.runtime): {element id: interrupting}.
    event_subprocesses: dict[str, bool] = field(default_factory=dict)
    # Its conditional events (engine.conditional_events), by element id: only instances
    # that have some look for conditions to evaluate after a step.
    conditional_events: tuple[str, ...] = ()

    def label(self, element_id: str, locale: str | None, drawn: str) -> str:
        """An element's name in `locale`, else `drawn` (the name as drawn)."""
        return pick(self.labels.get(element_id), locale, drawn)

    @property
    def routes_to_people(self) -> bool:
        """Whether a step of this process needs the org (engine.people.OrgSnapshot)."""
        return any(duty.routes_at_run_time for duty in self.duties.values())

    @property
    def duty_owners(self) -> tuple[str, ...]:
        """Lane and group names of every duty: who works on this process."""
        return tuple(name for duty in self.duties.values() for name in duty.owners)

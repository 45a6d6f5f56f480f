"""What a deployed process is, as the rest of DutyFlow sees it."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .forms import FormSpec


class InstanceStatus(StrEnum):
    """Where a process instance stands, as the engine reports it and instances store it."""

    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"


@dataclass(frozen=True)
class DutySpec:
    """A user task: a duty owned by a department (its lane, or its candidate groups)."""

    element_id: str
    name: str
    lane: str | None
    candidate_groups: tuple[str, ...]
    due_date: str | None
    form: FormSpec
    # ISO 8601 durations from when the task became ready (Camunda extension properties
    # `dutyflow:remindAfter`, `dutyflow:escalateAfter`); None: the department's default.
    remind_after: str | None = None
    escalate_after: str | None = None

    @property
    def owners(self) -> tuple[str, ...]:
        """Names that route to the departments allowed to do this duty."""
        return ((self.lane,) if self.lane else ()) + self.candidate_groups


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
    # Who may start it (services.access.may_start decides): Camunda's
    # candidateStarterGroups/-Users on the process, and the lanes of its start events.
    starter_groups: tuple[str, ...] = ()
    starter_users: tuple[str, ...] = ()
    start_lanes: tuple[str, ...] = ()

    @property
    def duty_owners(self) -> tuple[str, ...]:
        """Lane and group names of every duty: who works on this process."""
        return tuple(name for duty in self.duties.values() for name in duty.owners)

"""The stored statuses and kinds, defined once; StrEnums, so they equal (and are stored,
compared and serialized as) their strings. An instance's status is the engine's
(`engine.model.InstanceStatus`)."""
from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # withdrawn by the engine: the process ended or moved on
    # A countersign's remaining instance, no longer needed once its completion condition
    # held: no event, no KPI credit.
    WITHDRAWN = "withdrawn"


class TimerStatus(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"
    FAILED = "failed"  # its instance went into error


class EventKind(StrEnum):
    COMPLETED = "completed"
    CORRECTION = "correction"


class RunStatus(StrEnum):
    DRAFT = "draft"  # recalculated on demand
    FINAL = "final"  # never changes again

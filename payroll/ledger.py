"""The event log's vocabulary, as payroll reads it: a `completed` event credits the person who
did a duty; a `correction` later amends the data of one completion and credits nobody new;
an `external` event records a worker system's result and is never anyone's pay.

Defined here, in the innermost package that reads the log, so that the services writing it
and the payroll counting it spell each kind once (services may import payroll, never the
other way round)."""
from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    COMPLETED = "completed"
    CORRECTION = "correction"
    EXTERNAL = "external"

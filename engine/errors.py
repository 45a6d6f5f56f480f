"""Errors the engine raises, each carrying what a user needs to fix the cause."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One validation finding, located as precisely as the source allows."""

    file: str
    line: int | None
    element_id: str | None
    message: str

    def __str__(self) -> str:
        line = self.line if self.line is not None else "?"
        element = self.element_id or "-"
        return f"{self.file}:{line}: {element}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "element_id": self.element_id,
                "message": self.message}


class EngineError(Exception):
    """Base of every error the engine lets out; nothing from SpiffWorkflow leaks."""


class BpmnValidationError(EngineError):
    """A BPMN document was refused; `problems` lists every finding, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class FormValidationError(EngineError):
    """Completion data did not satisfy the task's form; `errors` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(messages)}"
                                   for field, messages in sorted(errors.items())))


class TaskNotReady(EngineError):
    """The task does not exist in the instance or is no longer waiting for a person."""


class ExecutionError(EngineError):
    """A script, condition or timer expression failed while the engine ran an instance."""

    def __init__(self, message: str, element_id: str | None = None):
        self.element_id = element_id
        super().__init__(f"{element_id}: {message}" if element_id else message)


class MoveRefused(EngineError):
    """A token cannot be moved as asked. `field` is "from" or "to"; `idle` means the
    element exists but no token waits there (the instance's state, not the request)."""

    def __init__(self, field: str, message: str, idle: bool = False):
        self.field = field
        self.idle = idle
        super().__init__(message)

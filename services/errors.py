"""Failures a use case reports; web and CLI map each to a status code or exit message."""
from __future__ import annotations


class ServiceError(Exception):
    """Base class; `str(err)` is safe to show to the person who asked."""


class NotFound(ServiceError):
    pass


class NotAuthenticated(ServiceError):
    """No valid credentials: sign in first."""


class PermissionDenied(ServiceError):
    """Signed in, but this person may not do or see this."""


class Conflict(ServiceError):
    """The state changed under the caller (someone else completed or claimed first)."""


class InvalidInput(ServiceError):
    """Input was refused; `errors` holds per-field or per-element details."""

    def __init__(self, message: str, errors: list | dict | None = None):
        super().__init__(message)
        self.errors = errors if errors is not None else []


class Unavailable(ServiceError):
    """Something the installation lacks makes this impossible for now (a font to embed)."""


class Busy(ServiceError):
    """Too much of this kind of work is under way; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class StepFailed(InvalidInput):
    """The diagram's own code could not finish a step (stopped for time or memory): the
    instance is in error with an incident; nothing the person sent was lost or applied."""

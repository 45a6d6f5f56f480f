"""Failures a use case reports; web and CLI map each to a status code or exit message.

`str(err)` is the English detail the API's problem documents and the CLI show. A refusal
that people meet on the pages also carries its text as a template (`text`, English, marked
with `N_` for the catalogue) and the values to fill in (`params`), so a page can say it in
the reader's language (`in_language`) while the API keeps its English detail.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def N_(text: str) -> str:
    """Marks a text for extraction into the catalogue; translated where it is shown."""
    return text


class ServiceError(Exception):
    """Base class; `str(err)` is safe to show to the person who asked."""

    def __init__(self, message: str = "", *, text: str | None = None,
                 params: Mapping[str, Any] | None = None):
        super().__init__(message if text is None else text % dict(params or {}))
        self.text, self.params = text, dict(params or {})

    def in_language(self, gettext: Callable[[str], str]) -> str:
        """The detail in the language of `gettext`; as is when it carries no template."""
        if self.text is None:
            return str(self)
        return gettext(self.text) % self.params


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

    def __init__(self, message: str = "", errors: list | dict | None = None, **template: Any):
        super().__init__(message, **template)
        self.errors = errors if errors is not None else []


class Unavailable(ServiceError):
    """Something the installation lacks makes this impossible for now (a font to embed)."""


class Busy(ServiceError):
    """Too much of this kind of work is under way; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int, **template: Any):
        super().__init__(message, **template)
        self.retry_after = retry_after


class StepFailed(InvalidInput):
    """The diagram's own code could not finish a step (stopped for time or memory): the
    instance is in error with an incident; nothing the person sent was lost or applied."""

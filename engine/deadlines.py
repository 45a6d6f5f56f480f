"""ISO 8601 dates and durations, as written in `camunda:dueDate` and timer events (and
a timeCycle's cron expression, engine.cron).

SpiffWorkflow evaluates timer text as Python, so a designer's plain `PT2H` would be
a NameError; here literal ISO values are recognised and quoted, and `${name}` is
unwrapped to an expression over process data. A `${...}` due date may be JUEL
(engine.expressions decides by its syntax).
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import cron, expressions, sandbox

_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$", re.IGNORECASE)
_CYCLE = re.compile(r"^R\d*/", re.IGNORECASE)


def is_duration(text: str) -> bool:
    return bool(_DURATION.match(text.strip()))


def parse_datetime(text: str) -> dt.datetime:
    """An ISO date-time; naive values are taken as UTC so results never depend on the host."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def add_duration(start: dt.datetime, text: str) -> dt.datetime:
    """Calendar-aware: P1M from 31 January lands at the end of February, as people expect."""
    parsed = TimerEventDefinition.parse_iso_duration(text.strip())
    return start + TimerEventDefinition.get_timedelta_from_start(parsed, start)


def timer_expression(text: str) -> str:
    """Turn a designer's timer text into the Python expression SpiffWorkflow evaluates."""
    stripped = text.strip()
    if sandbox.wrapped_body(stripped) is not None:
        return sandbox.unwrap(stripped)
    if is_duration(stripped) or _CYCLE.match(stripped) or _looks_like_date(stripped) \
            or cron.looks_like_cron(stripped):
        return repr(stripped)
    return stripped


def check_timer(kind: str, text: str) -> str | None:
    """Return why a timer definition is unusable, or None. `kind` is timeDuration/timeDate/timeCycle."""
    stripped = (text or "").strip()
    if not stripped:
        return f"{kind} is empty"
    if sandbox.wrapped_body(stripped) is not None:
        return _expression_problem(stripped)
    try:
        if kind == "timeDuration":
            if not is_duration(stripped):
                return f"{stripped!r} is not an ISO 8601 duration such as PT2H or P1D"
            TimerEventDefinition.parse_iso_duration(stripped)
        elif kind == "timeDate":
            parse_datetime(stripped)
        elif cron.looks_like_cron(stripped):
            return cron.check(stripped)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(stripped)
    except Exception:  # SpiffWorkflow raises bare Exception for bad ISO text
        return f"{stripped!r} is not a valid ISO 8601 {kind}"
    return None


def check_due_date(text: str) -> str | None:
    """Return why a `camunda:dueDate` value is unusable, or None."""
    stripped = (text or "").strip()
    if sandbox.wrapped_body(stripped) is not None:
        return _expression_problem(stripped)
    if is_duration(stripped):
        try:
            TimerEventDefinition.parse_iso_duration(stripped)
            return None
        except Exception:
            pass
    else:
        try:
            parse_datetime(stripped)
            return None
        except ValueError:
            pass
    return (f"dueDate {stripped!r} is neither an ISO 8601 date-time, a duration such as PT4H, "
            "nor ${name} naming process data")


def resolve_due_at(text: str | None, data: Mapping[str, Any], ready_at: dt.datetime) -> dt.datetime | None:
    """The moment a task falls due, or None when it has no usable due date.

    A `${...}` value may yield a date-time, an ISO date-time string or a duration
    (counted, like literal durations, from when the task became ready).
    """
    if not text:
        return None
    stripped = text.strip()
    value: Any = stripped
    if sandbox.wrapped_body(stripped) is not None:
        try:
            value = expressions.evaluate(stripped, data)  # Python or JUEL, by its syntax
        except sandbox.SandboxError:
            return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time.max, dt.timezone.utc)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        if is_duration(value):
            return add_duration(ready_at, value)
        return parse_datetime(value)
    except Exception:  # bad data at run time leaves the task without a deadline, never stuck
        return None


def _looks_like_date(text: str) -> bool:
    try:
        parse_datetime(text)
        return True
    except ValueError:
        return False


def _expression_problem(expression: str) -> str | None:
    try:
        expressions.check(expression)
    except sandbox.SandboxError as err:
        return f"invalid expression: {err}"
    return None

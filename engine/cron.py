"""Cron timer cycles, as Camunda 7 reads them: `<timeCycle>0 0/5 * * * ?</timeCycle>`.

Camunda 7 takes a timeCycle that is not ISO 8601 (`R/PT5M`) as a Quartz cron expression:
six or seven fields, `seconds minutes hours day-of-month month day-of-week [year]`, each
`*`, `?` (day-of-month or day-of-week: no restriction), a value, a range `a-b`, a list
`a,b`, a step `a/n` or `*/n` (`a-b/n`), months `JAN`-`DEC`, weekdays `1`-`7` or `SUN`-`SAT`
(1 is Sunday, as in Quartz). Quartz's `L`, `W` and `#` (last day, nearest weekday, n-th
weekday) are refused by name rather than guessed at. DutyFlow reads the schedule in UTC,
as it reads naive timer dates, so that no schedule depends on the host's zone.

The timer waits for the next moment the expression matches; each later occurrence is
the next match after the one before (engine.loader puts `CronCycleTimer` in place of
SpiffWorkflow's fixed-interval cycle for these timers).
"""
from __future__ import annotations

import datetime as dt
import re

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition

_MONTHS = {name: number for number, name in enumerate(
    "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
_WEEKDAYS = {name: number for number, name in enumerate("SUN MON TUE WED THU FRI SAT".split(), 1)}
# (name, lowest, highest, names) of the seven fields, in order.
_FIELDS = (("seconds", 0, 59, {}), ("minutes", 0, 59, {}), ("hours", 0, 23, {}),
           ("day-of-month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day-of-week", 1, 7, _WEEKDAYS), ("year", 1970, 2199, {}))
_ITEM = re.compile(r"^(\*|[0-9A-Z]+(?:-[0-9A-Z]+)?)(?:/(\d+))?$")
_SEARCH_YEARS = 8  # a schedule with no match this far ahead never fires (e.g. 30 February)


class CronError(ValueError):
    """Why a text is no cron expression DutyFlow runs."""


def looks_like_cron(text: str) -> bool:
    """A timeCycle that is not ISO 8601 but has the fields of a cron expression."""
    stripped = (text or "").strip()
    return not stripped.upper().startswith("R") and len(stripped.split()) >= 5


class Schedule:
    """A parsed cron expression: the moments it matches, in UTC."""

    def __init__(self, text: str):
        fields = text.split()
        if len(fields) not in (6, 7):
            raise CronError(f"a cron expression has 6 or 7 fields (seconds minutes hours "
                            f"day-of-month month day-of-week [year]), not {len(fields)}")
        if len(fields) == 6:
            fields.append("*")
        values = [_field(field, *spec) for field, spec in zip(fields, _FIELDS)]
        self.seconds, self.minutes, self.hours, self.days, self.months, weekdays, \
            self.years = values
        self.weekdays = None if weekdays is None else {(day - 1) % 7 for day in weekdays}
        if self.days is not None and self.weekdays is not None:
            raise CronError("give either day-of-month or day-of-week and '?' for the other "
                            "(as Quartz requires)")

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first matching moment strictly after `moment` (UTC), or None if none comes."""
        moment = moment.astimezone(dt.timezone.utc).replace(microsecond=0)
        day = moment.date()
        for _ in range(366 * _SEARCH_YEARS):
            if self._matches_day(day):
                found = self._first_time(day, moment.time() if day == moment.date() else None)
                if found is not None:
                    return dt.datetime.combine(day, found, dt.timezone.utc)
            day += dt.timedelta(days=1)
        return None

    def _matches_day(self, day: dt.date) -> bool:
        # Quartz counts Sunday as 1: Python's weekday() is 0 on Monday, so shift by one.
        weekday = (day.weekday() + 1) % 7
        return (_allows(self.years, day.year) and _allows(self.months, day.month)
                and _allows(self.days, day.day) and _allows(self.weekdays, weekday))

    def _first_time(self, day: dt.date, after: dt.time | None) -> dt.time | None:
        for hour in _range(self.hours, 0, 23):
            for minute in _range(self.minutes, 0, 59):
                for second in _range(self.seconds, 0, 59):
                    candidate = dt.time(hour, minute, second)
                    if after is None or candidate > after:
                        return candidate
        return None


def check(text: str) -> str | None:
    """Why `text` is no cron expression DutyFlow runs, or None."""
    try:
        schedule = Schedule(text)
    except CronError as err:
        return f"cron {text.strip()!r}: {err}"
    if schedule.next_after(dt.datetime.now(dt.timezone.utc)) is None:
        return f"cron {text.strip()!r} matches no moment in the next {_SEARCH_YEARS} years"
    return None


class CronCycleTimer(CycleTimerEventDefinition):
    """A timeCycle written as cron: each occurrence is the expression's next match, where
    SpiffWorkflow's cycle adds a fixed interval. `next` in the timer's state is what the
    timer worker reads as the due time, as for an ISO cycle."""

    def cycle_complete(self, my_task) -> bool:
        schedule = Schedule(my_task.workflow.script_engine.evaluate(my_task, self.expression))
        now = dt.datetime.now(dt.timezone.utc)
        state = my_task._get_internal_data("event_value")
        if state is None:
            first = schedule.next_after(now)
            state = {"cycles": -1 if first else 0, "next": first.isoformat() if first else None,
                     "duration": 0}
        ready = False
        if state["cycles"] != 0:
            due = dt.datetime.fromisoformat(state["next"])
            if due < now:
                following = schedule.next_after(due)
                state["next"] = following.isoformat() if following else None
                state["cycles"] = -1 if following else 0
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=state)
        return ready


def cron_cycles_in_place(spec) -> None:
    """Give the cycle timers of `spec` whose text is cron (quoted by
    engine.deadlines.timer_expression) the cron cycle, at load time."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if type(definition) is CycleTimerEventDefinition and _is_quoted_cron(definition.expression):
            cron = CronCycleTimer(definition.name, definition.expression,
                                  description=definition.description)
            task_spec.event_definition = cron


def _is_quoted_cron(expression: str) -> bool:
    text = (expression or "").strip()
    return len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" and \
        looks_like_cron(text[1:-1])


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """The values a field allows; None when it allows every value (`*` or `?`)."""
    text = text.upper()
    if text in ("*", "?"):
        return None
    if any(mark in text for mark in ("L", "W", "#")) and not any(
            word in text for word in names):
        raise CronError(f"{name} {text!r}: Quartz's L, W and # are not supported")
    allowed: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise CronError(f"{name} {item!r} is not a value, range, list or step")
        span, step = match.group(1), int(match.group(2) or 1)
        if step < 1:
            raise CronError(f"{name} {item!r}: the step must be at least 1")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (_value(part, name, low, high, names) for part in span.split("-"))
        else:
            first = _value(span, name, low, high, names)
            last = high if match.group(2) else first
        if first > last:
            raise CronError(f"{name} {item!r}: the range runs backwards")
        allowed.update(range(first, last + 1, step))
    return allowed


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text) if text in names else int(text) if text.isdigit() else None
    if value is None or not low <= value <= high:
        raise CronError(f"{name} {text!r} is not between {low} and {high}"
                        + (f" nor a name ({', '.join(names)})" if names else ""))
    return value


def _allows(allowed: set[int] | None, value: int) -> bool:
    return allowed is None or value in allowed


def _range(allowed: set[int] | None, low: int, high: int) -> list[int]:
    return sorted(allowed) if allowed is not None else list(range(low, high + 1))

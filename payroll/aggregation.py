"""Measure every indicator for every employee in SQL: one pass over the period's events.

Events are never loaded into Python. Each indicator is a numerator and a denominator,
and each of those a term: a count of a task's completions, the on-time count, the
handling seconds, a form field's matches. Every distinct term is one aggregate in a
single GROUP BY over the period's completions, so indicators that share a term (a
field_rate's denominator and the completed_count of the same task) share its cost;
`completion_rate` is one GROUP BY over the task table.

What a row costs is mostly what it carries through the GROUP BY's sort, so the events
table stores per event what would otherwise take two timestamps each (migration 0008):
`handling_seconds` (ready to completed, whole seconds) and `on_time` (NULL without a
due time). A form field is read with one JSON call per row wherever that is exact.

Corrections stay out of that pass. A correction changes only form data, so field_rate
numerators are all it can move: a second SELECT starts from the latest correction of
each event (few), joins its original by primary key and yields, per person, how much
each field_rate numerator changes. Joining every event of the month to its latest
correction instead would cost a lookup per event for the sake of a handful. Both
SELECTs are one statement (UNION ALL), so they read the same snapshot.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Iterable, NamedTuple

from sqlalchemy import (String, Table, and_, bindparam, case, cast, false, func, literal, select,
                        union_all)
from sqlalchemy.engine import Connection

from .ledger import EventKind
from .money import ratio
from .periods import Period
from .schemes import Indicator


class Term(NamedTuple):
    """One aggregate over a person's completions in the period."""

    kind: str  # count, task, on_time, due, seconds, unescalated, field
    task: str | None = None
    process_key: str | None = None
    field: str | None = None
    value: str | None = None


COUNT = Term("count")
BOOLEAN_LOOKALIKES = ("true", "false", "1", "0")


def measure(connection: Connection, events: Table, tasks: Table, period: Period,
            indicators: Iterable[Indicator], usernames: Iterable[str] | None = None
            ) -> dict[str, dict[str, Decimal | None]]:
    """`{username: {indicator.key: actual or None}}` for everyone with data in the period."""
    unique = {indicator.key: indicator for indicator in indicators}
    params = {"start": period.start, "end": period.end}
    if usernames is not None:
        params["usernames"] = list(usernames)
    results: dict[str, dict[str, Decimal | None]] = {}
    event_measures = [i for i in unique.values() if i.metric != "completion_rate"]
    if event_measures:
        _measure_events(connection, events, params, event_measures, results)
    if any(i.metric == "completion_rate" for i in unique.values()):
        _measure_completion_rate(connection, tasks, params, results)
    return results


def _terms(indicator: Indicator) -> tuple[Term, Term]:
    """(numerator, denominator); a completed_count's denominator is never read."""
    if indicator.metric == "completed_count":
        if indicator.task or indicator.process_key:
            return Term("task", indicator.task, indicator.process_key), COUNT
        return COUNT, COUNT
    if indicator.metric == "on_time_rate":
        return Term("on_time"), Term("due")
    if indicator.metric == "field_rate":
        return (Term("field", indicator.task, field=indicator.field, value=indicator.value),
                Term("task", indicator.task))
    if indicator.metric == "avg_handling_hours":
        return Term("seconds"), COUNT
    if indicator.metric == "escalation_free_rate":
        return Term("unescalated"), COUNT
    raise ValueError(f"not an event metric: {indicator.metric}")


def _measure_events(connection, events, params, indicators, results) -> None:
    pairs = [(indicator, *_terms(indicator)) for indicator in indicators]
    terms = tuple(dict.fromkeys(term for _, *pair in pairs for term in pair))
    query = _events_query(events, terms, "usernames" in params, connection.dialect.name)
    sums: dict[str, list] = {}
    for who, *values in connection.execute(query, params).all():
        seen = sums.get(who)
        sums[who] = values if seen is None else [a + b for a, b in zip(seen, values)]
    column = {term: index for index, term in enumerate(terms)}
    reads = [(indicator, column[numerator], column[denominator])
             for indicator, numerator, denominator in pairs]
    for who, values in sums.items():
        actuals = results.setdefault(who, {})
        for indicator, numerator, denominator in reads:
            actuals[indicator.key] = _actual(indicator, values[numerator], values[denominator])


@lru_cache(maxsize=64)
def _events_query(events: Table, terms: tuple[Term, ...], by_name: bool, dialect: str):
    """The statement for these terms, built once (a run measures the same schemes' terms
    for one period after another): parameters `start`, `end` and, if `by_name`, `usernames`."""
    query = _event_totals(events, terms, by_name, dialect)
    if any(term.kind == "field" for term in terms):
        query = union_all(query, _correction_changes(events, terms, by_name, dialect))
    return query


def _event_totals(events, terms, by_name, dialect):
    e = events.alias("e")
    return _per_person(select(e.c.completed_by, *(_aggregate(term, e, dialect) for term in terms)),
                       e, by_name)


def _per_person(query, e, by_name: bool):
    """`query` over the period's completions `e`, a row per person (of `usernames`, if by_name)."""
    query = (query.where(completed_within(e, bindparam("start"), bindparam("end")))
             .group_by(e.c.completed_by))
    if by_name:
        query = query.where(e.c.completed_by.in_(bindparam("usernames", expanding=True)))
    return query


def _aggregate(term: Term, e, dialect: str):
    """The term's aggregate; `on_time` is NULL exactly when there was no due time."""
    if term.kind == "count":
        return func.count()
    if term.kind == "task":
        return _count_if(_of_task(term, e))
    if term.kind == "on_time":
        return on_time_count(e.c.on_time)
    if term.kind == "due":
        return due_count(e.c.on_time)
    if term.kind == "seconds":
        return func.sum(e.c.handling_seconds)
    if term.kind == "unescalated":
        return _count_if(e.c.escalated.is_(false()))
    return _count_if(and_(_of_task(term, e), _field_equals(e.c.data, term, dialect)))


def completed_within(events, start, end):
    """Completions (not corrections) made in [start, end): the events every per-period
    figure counts, for payroll here and for the reports (`events` a table or alias)."""
    return and_(events.c.kind == EventKind.COMPLETED, events.c.completed_at >= start,
                events.c.completed_at < end)


def due_within(tasks, start, end):
    """Tasks due in [start, end): those a period's completion rate is measured over. A
    countersign's instance withdrawn once it was no longer needed is nobody's to do, so
    it counts for no one ("withdrawn": services.persistence.statuses.TaskStatus)."""
    return and_(tasks.c.due_at >= start, tasks.c.due_at < end, tasks.c.status != "withdrawn")


def done_in_time(tasks, end):
    """Of the tasks due in a period, the number completed before it ended: the completion
    rate's numerator (its denominator is their count). A task has a `completed_at` only
    once it is completed; withdrawn and cancelled ones never do."""
    return func.sum(case((tasks.c.completed_at < end,
                          literal(1)), else_=literal(0)))


def on_time_count(on_time):
    """Completions by their due time, from the events' stored `on_time` column: the
    on-time rule is the column's default (services.persistence.models), never redone."""
    return _count_if(on_time)


def due_count(on_time):
    """Completions that had a due time: `on_time` is NULL exactly when there was none."""
    return func.count(on_time)


def _count_if(condition):
    return func.count(case((condition, literal(1))))


def _of_task(term: Term, e):
    conditions = []
    if term.task:
        conditions.append(e.c.element_id == term.task)
    if term.process_key:
        conditions.append(e.c.process_key == term.process_key)
    return and_(*conditions)


def _correction_changes(events, terms, by_name, dialect):
    """Per person, what the latest corrections change in each field term (0 elsewhere)."""
    latest = (select(events.c.corrects_event_id.label("original"),
                     func.max(events.c.id).label("id"))
              # `corrects_event_id IS NOT NULL` lets the partial index serve this subquery.
              .where(events.c.kind == EventKind.CORRECTION, events.c.corrects_event_id.is_not(None))
              .group_by(events.c.corrects_event_id)
              .subquery("latest"))
    original, corrected = events.alias("o"), events.alias("c")
    columns = [func.sum(_field_change(term, original, corrected, dialect))
               if term.kind == "field" else literal(0) for term in terms]
    query = (select(original.c.completed_by, *columns)
             .select_from(latest.join(original, original.c.id == latest.c.original)
                          .join(corrected, corrected.c.id == latest.c.id)))
    return _per_person(query, original, by_name)


def _field_change(term: Term, original, corrected, dialect: str):
    """1 if the correction makes the event match, -1 if it makes it stop matching, else 0.

    A correction without the field leaves the original's value in place.
    """
    before = _field_text(original.c.data, term.field, dialect)
    after = func.coalesce(_field_text(corrected.c.data, term.field, dialect), before)
    of_task = _of_task(term, original)
    return (case((and_(of_task, after == term.value), literal(1)), else_=literal(0))
            - case((and_(of_task, before == term.value), literal(1)), else_=literal(0)))


def _field_equals(column, term: Term, dialect: str):
    """`_field_text(...) == value` with one JSON call per row where that is enough.

    SQLite's json_extract reads true/false as 1/0, so only a value that a boolean could
    be confused with needs json_type as well; any other value is a plain comparison.
    """
    if dialect == "sqlite" and term.value not in BOOLEAN_LOOKALIKES:
        return cast(func.json_extract(column, _json_path(term.field)), String) == term.value
    return _field_text(column, term.field, dialect) == term.value


def _field_text(column, field: str, dialect: str):
    """A form field as text on both backends; booleans read as 'true'/'false'."""
    if dialect == "postgresql":
        return column.op("->>")(field)
    path = _json_path(field)
    return case({"true": literal("true"), "false": literal("false")},
                value=func.json_type(column, path),  # evaluated once per row
                else_=cast(func.json_extract(column, path), String))


def _json_path(field: str) -> str:
    return '$."' + field.replace('"', "") + '"'


def _actual(indicator: Indicator, numerator, denominator) -> Decimal | None:
    if indicator.metric == "completed_count":
        return Decimal(int(numerator or 0))
    if indicator.metric == "avg_handling_hours":
        if not denominator:
            return None
        return Decimal(str(numerator)) / Decimal(int(denominator)) / Decimal(3600)
    return ratio(numerator, denominator)


def _measure_completion_rate(connection, tasks, params, results) -> None:
    key = Indicator("completion_rate", Decimal(1), Decimal(1)).key
    query = _completion_query(tasks, "usernames" in params)
    for assignee, done, total in connection.execute(query, params).all():
        results.setdefault(assignee, {})[key] = ratio(done, total)


@lru_cache(maxsize=8)
def _completion_query(tasks: Table, by_name: bool):
    """Built once, like _events_query, with the same parameters."""
    query = (select(tasks.c.assignee, done_in_time(tasks, bindparam("end")), func.count())
             .where(tasks.c.assignee.is_not(None),
                    due_within(tasks, bindparam("start"), bindparam("end")))
             .group_by(tasks.c.assignee))
    if by_name:
        query = query.where(tasks.c.assignee.in_(bindparam("usernames", expanding=True)))
    return query

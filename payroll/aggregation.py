"""Measure every indicator for every employee in SQL: one pass over the period's events.

Events are never loaded into Python. Each indicator is a numerator and a denominator,
and each of those a term: a count of a task's completions, the on-time count, the
handling seconds, a form field's matches. Every distinct term is one aggregate in a
single GROUP BY over the period's completions, so indicators that share a term (a
field_rate's denominator and the completed_count of the same task) share its cost;
`completion_rate` is one GROUP BY over the task table.

Corrections stay out of that pass. A correction changes only form data, so field_rate
numerators are all it can move: a second SELECT starts from the latest correction of
each event (few), joins its original by primary key and yields, per person, how much
each field_rate numerator changes. Joining every event of the month to its latest
correction instead would cost a lookup per event for the sake of a handful. Both
SELECTs are one statement (UNION ALL), so they read the same snapshot.
"""
from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Iterable, NamedTuple

from sqlalchemy import String, Table, and_, case, cast, func, literal, select, union_all
from sqlalchemy.engine import Connection

from .periods import Period
from .schemes import Indicator


class Term(NamedTuple):
    """One aggregate over a person's completions in the period."""

    kind: str  # count, task, on_time, due, seconds, field
    task: str | None = None
    process_key: str | None = None
    field: str | None = None
    value: str | None = None


COUNT = Term("count")


def measure(connection: Connection, events: Table, tasks: Table, period: Period,
            indicators: Iterable[Indicator], usernames: Iterable[str] | None = None
            ) -> dict[str, dict[str, Decimal | None]]:
    """`{username: {indicator.key: actual or None}}` for everyone with data in the period."""
    unique = {indicator.key: indicator for indicator in indicators}
    names = None if usernames is None else list(usernames)
    results: dict[str, dict[str, Decimal | None]] = {}
    event_measures = [i for i in unique.values() if i.metric != "completion_rate"]
    if event_measures:
        _measure_events(connection, events, period, event_measures, names, results)
    if any(i.metric == "completion_rate" for i in unique.values()):
        _measure_completion_rate(connection, tasks, period, names, results)
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
    raise ValueError(f"not an event metric: {indicator.metric}")


def _measure_events(connection, events, period, indicators, usernames, results) -> None:
    pairs = {indicator.key: _terms(indicator) for indicator in indicators}
    terms = list(dict.fromkeys(term for pair in pairs.values() for term in pair))
    dialect = connection.dialect.name
    query = _event_totals(events, period, terms, usernames, dialect)
    if any(term.kind == "field" for term in terms):
        query = union_all(query, _correction_changes(events, period, terms, usernames, dialect))
    sums: dict[str, list] = {}
    for who, *values in connection.execute(query):
        seen = sums.get(who)
        sums[who] = values if seen is None else [a + b for a, b in zip(seen, values)]
    column = {term: index for index, term in enumerate(terms)}
    for who, values in sums.items():
        actuals = results.setdefault(who, {})
        for indicator in indicators:
            numerator, denominator = pairs[indicator.key]
            actuals[indicator.key] = _actual(indicator, values[column[numerator]],
                                             values[column[denominator]])


def _event_totals(events, period, terms, usernames, dialect):
    e = events.alias("e")
    query = (select(e.c.completed_by, *(_aggregate(term, e, dialect) for term in terms))
             .where(e.c.kind == "completed", e.c.completed_at >= period.start,
                    e.c.completed_at < period.end)
             .group_by(e.c.completed_by))
    if usernames is not None:
        query = query.where(e.c.completed_by.in_(usernames))
    return query


def _aggregate(term: Term, e, dialect: str):
    if term.kind == "count":
        return func.count()
    if term.kind == "task":
        return _count_if(_of_task(term, e))
    if term.kind == "on_time":
        return _count_if(e.c.completed_at <= e.c.due_at)
    if term.kind == "due":
        return func.count(e.c.due_at)
    if term.kind == "seconds":
        return func.sum(_seconds_between(e.c.ready_at, e.c.completed_at, dialect))
    return _count_if(and_(_of_task(term, e),
                          _field_text(e.c.data, term.field, dialect) == term.value))


def _count_if(condition):
    return func.count(case((condition, literal(1))))


def _of_task(term: Term, e):
    conditions = []
    if term.task:
        conditions.append(e.c.element_id == term.task)
    if term.process_key:
        conditions.append(e.c.process_key == term.process_key)
    return and_(*conditions)


def _correction_changes(events, period, terms, usernames, dialect):
    """Per person, what the latest corrections change in each field term (0 elsewhere)."""
    latest = (select(events.c.corrects_event_id.label("original"), func.max(events.c.id).label("id"))
              # `corrects_event_id IS NOT NULL` lets the partial index serve this subquery.
              .where(events.c.kind == "correction", events.c.corrects_event_id.is_not(None))
              .group_by(events.c.corrects_event_id)
              .subquery("latest"))
    original, corrected = events.alias("o"), events.alias("c")
    columns = [func.sum(_field_change(term, original, corrected, dialect))
               if term.kind == "field" else literal(0) for term in terms]
    query = (select(original.c.completed_by, *columns)
             .select_from(latest.join(original, original.c.id == latest.c.original)
                          .join(corrected, corrected.c.id == latest.c.id))
             .where(original.c.kind == "completed", original.c.completed_at >= period.start,
                    original.c.completed_at < period.end)
             .group_by(original.c.completed_by))
    if usernames is not None:
        query = query.where(original.c.completed_by.in_(usernames))
    return query


def _field_change(term: Term, original, corrected, dialect: str):
    """1 if the correction makes the event match, -1 if it makes it stop matching, else 0.

    A correction without the field leaves the original's value in place.
    """
    before = _field_text(original.c.data, term.field, dialect)
    after = func.coalesce(_field_text(corrected.c.data, term.field, dialect), before)
    of_task = _of_task(term, original)
    return (case((and_(of_task, after == term.value), literal(1)), else_=literal(0))
            - case((and_(of_task, before == term.value), literal(1)), else_=literal(0)))


def _field_text(column, field: str, dialect: str):
    """A form field as text on both backends; booleans read as 'true'/'false'."""
    if dialect == "postgresql":
        return column.op("->>")(field)
    path = '$."' + field.replace('"', "") + '"'
    return case({"true": literal("true"), "false": literal("false")},
                value=func.json_type(column, path),  # evaluated once per row
                else_=cast(func.json_extract(column, path), String))


def _seconds_between(start, end, dialect: str):
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    if sqlite3.sqlite_version_info >= (3, 38):  # unixepoch(): whole seconds, much cheaper
        return func.unixepoch(end) - func.unixepoch(start)
    return func.strftime("%s", end) - func.strftime("%s", start)


def _actual(indicator: Indicator, numerator, denominator) -> Decimal | None:
    if indicator.metric == "completed_count":
        return Decimal(int(numerator or 0))
    if not denominator:
        return None
    if indicator.metric == "avg_handling_hours":
        return Decimal(str(numerator)) / Decimal(int(denominator)) / Decimal(3600)
    return Decimal(int(numerator or 0)) / Decimal(int(denominator))


def _measure_completion_rate(connection, tasks, period, usernames, results) -> None:
    completed_in_time = case((and_(tasks.c.status == "completed",
                                   tasks.c.completed_at < period.end), literal(1)), else_=literal(0))
    query = (select(tasks.c.assignee, func.sum(completed_in_time).label("done"),
                    func.count().label("total"))
             .where(tasks.c.assignee.is_not(None), tasks.c.due_at >= period.start,
                    tasks.c.due_at < period.end)
             .group_by(tasks.c.assignee))
    if usernames is not None:
        query = query.where(tasks.c.assignee.in_(usernames))
    key = Indicator("completion_rate", Decimal(1), Decimal(1)).key
    for row in connection.execute(query):
        results.setdefault(row.assignee, {})[key] = Decimal(int(row.done)) / Decimal(int(row.total))

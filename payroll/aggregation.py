"""Measure every indicator for every employee in one pass of SQL per source table.

Events are never loaded into Python: each distinct measure becomes a pair of
conditional sums in a single GROUP BY over the period's completions, and
`completion_rate` one GROUP BY over the task table. Corrections are applied in the
query: a completion's effective form data is that of its latest correction.
"""
from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Iterable

from sqlalchemy import String, Table, and_, case, cast, func, literal, select
from sqlalchemy.engine import Connection

from .periods import Period
from .schemes import Indicator


def measure(connection: Connection, events: Table, tasks: Table, period: Period,
            indicators: Iterable[Indicator], usernames: Iterable[str] | None = None
            ) -> dict[str, dict[str, Decimal | None]]:
    """`{username: {indicator.key: actual or None}}` for everyone with data in the period."""
    unique = {indicator.key: indicator for indicator in indicators}
    results: dict[str, dict[str, Decimal | None]] = {}
    event_measures = [i for i in unique.values() if i.metric != "completion_rate"]
    if event_measures:
        _measure_events(connection, events, period, event_measures, usernames, results)
    if any(i.metric == "completion_rate" for i in unique.values()):
        _measure_completion_rate(connection, tasks, period, usernames, results)
    return results


def _measure_events(connection, events, period, indicators, usernames, results) -> None:
    e = events.alias("e")
    latest = (select(events.c.corrects_event_id.label("original"), func.max(events.c.id).label("id"))
              # `corrects_event_id IS NOT NULL` lets the partial index serve this subquery.
              .where(events.c.kind == "correction", events.c.corrects_event_id.is_not(None))
              .group_by(events.c.corrects_event_id)
              .subquery("latest"))
    corrected = events.alias("c")
    columns = []
    for index, indicator in enumerate(indicators):
        numerator, denominator = _sums(indicator, e, corrected, connection.dialect.name)
        columns += [numerator.label(f"n{index}"), denominator.label(f"d{index}")]
    query = (select(e.c.completed_by, *columns)
             .select_from(e.outerjoin(latest, latest.c.original == e.c.id)
                          .outerjoin(corrected, corrected.c.id == latest.c.id))
             .where(e.c.kind == "completed", e.c.completed_at >= period.start,
                    e.c.completed_at < period.end)
             .group_by(e.c.completed_by))
    if usernames is not None:
        query = query.where(e.c.completed_by.in_(list(usernames)))
    for row in connection.execute(query):
        actuals = results.setdefault(row.completed_by, {})
        for index, indicator in enumerate(indicators):
            actuals[indicator.key] = _actual(indicator, row._mapping[f"n{index}"],
                                             row._mapping[f"d{index}"])


def _sums(indicator: Indicator, e, corrected, dialect: str):
    one, zero = literal(1), literal(0)
    if indicator.metric == "completed_count":
        condition = _task_filter(indicator, e)
        total = func.sum(case((condition, one), else_=zero)) if condition is not None \
            else func.count()
        return total, func.count()
    if indicator.metric == "on_time_rate":
        has_due = e.c.due_at.is_not(None)
        return (func.sum(case((and_(has_due, e.c.completed_at <= e.c.due_at), one), else_=zero)),
                func.sum(case((has_due, one), else_=zero)))
    if indicator.metric == "field_rate":
        of_task = e.c.element_id == indicator.task
        value = func.coalesce(_field_text(corrected.c.data, indicator.field, dialect),
                              _field_text(e.c.data, indicator.field, dialect))
        return (func.sum(case((and_(of_task, value == indicator.value), one), else_=zero)),
                func.sum(case((of_task, one), else_=zero)))
    if indicator.metric == "avg_handling_hours":
        return func.sum(_seconds_between(e.c.ready_at, e.c.completed_at, dialect)), func.count()
    raise ValueError(f"not an event metric: {indicator.metric}")


def _task_filter(indicator: Indicator, e):
    conditions = []
    if indicator.task:
        conditions.append(e.c.element_id == indicator.task)
    if indicator.process_key:
        conditions.append(e.c.process_key == indicator.process_key)
    return and_(*conditions) if conditions else None


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
        query = query.where(tasks.c.assignee.in_(list(usernames)))
    for row in connection.execute(query):
        key = Indicator("completion_rate", Decimal(1), Decimal(1)).key
        results.setdefault(row.assignee, {})[key] = Decimal(int(row.done)) / Decimal(int(row.total))

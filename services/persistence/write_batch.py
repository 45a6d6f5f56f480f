"""Writes queued by a unit of work and sent together: one statement on PostgreSQL.

Each statement a process step sends is a round trip to the database, and a completion
writes six (close the task, append its event, insert the next tasks and timers, store
the instance's state...). Queued here as they are made, they go out when the unit of
work next reads, flushes or commits:

- on PostgreSQL as ONE statement, each write a data-modifying CTE with `RETURNING 1`;
  the main query counts every CTE's rows, which is what a rowcount would have said, so
  an optimistic lock (the instance's version) or a conditional close still decides;
- on SQLite (whose CTEs cannot write) one statement after the other, in order.

Both run the same `Write`s, built by the same code (services.persistence.step_store), so
the two backends cannot disagree on what a step writes; only the sending differs. The
writes of one statement see the same snapshot and not each other's changes, so a batch
takes a write that could depend on an earlier one only after sending that one: an
UPDATE or DELETE of a table already written (it might touch the same rows, or rows
inserted), or an INSERT after a DELETE there. Rows inserted beside their parents are fine:
PostgreSQL checks foreign keys at the end of the whole statement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, literal_column, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.util import find_tables
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import TableClause

from services.errors import Conflict


@dataclass(frozen=True)
class Write:
    """One INSERT, UPDATE or DELETE and its parameters (a dict, or a list of rows for an
    INSERT of several); `conflict` is raised unless it changed exactly one row."""

    statement: Insert | Update | Delete
    parameters: dict[str, Any] | list[dict[str, Any]] | None = None
    conflict: Conflict | None = None

    @property
    def table(self) -> str:
        return self.statement.table.name

    def parts(self, number: int) -> list[tuple[tuple, Any, dict[str, Any]]]:
        """The write as parts of the one statement: (shape, how to build the part,
        parameters), an INSERT of several rows as one part per row (SQLAlchemy caches no
        multi-row VALUES). Each part's bind parameters are renamed after its place
        (`w{number}_...`): beside other writes, two `bindparam("at")` would be one."""
        statement = self.statement
        if isinstance(self.parameters, list) or (
                isinstance(statement, Insert) and not statement._values
                and not statement._multi_values):
            rows = self.parameters if isinstance(self.parameters, list) else [self.parameters]
            parts = []
            for index, row in enumerate(rows):
                row = _with_defaults(statement.table, row)
                prefix = f"w{number}_{index}_"
                parts.append(((statement, tuple(row)),
                              lambda prefix=prefix, row=row: _insert_part(statement, prefix, row),
                              {prefix + key: value for key, value in row.items()}))
            return parts
        values, prefix = self.parameters or {}, f"w{number}_"
        return [((statement, tuple(sorted(values))),
                 lambda: _renamed(statement, prefix, values),
                 {prefix + key: value for key, value in values.items()})]


def _insert_part(statement: Insert, prefix: str, row: dict[str, Any]) -> Insert:
    columns = statement.table.c
    return statement.values({key: bindparam(prefix + key, type_=columns[key].type)
                             for key in row})


def _renamed(statement, prefix: str, values: dict[str, Any]):
    def rename(element):
        if isinstance(element, BindParameter) and element.key in values:
            return bindparam(prefix + element.key, type_=element.type,
                             expanding=element.expanding)
        return None

    return visitors.replacement_traverse(statement, {}, rename)


class _Inserting:
    """What a context-sensitive column default is called with (SQLAlchemy's execution
    context, as far as defaults use it): the row being inserted."""

    def __init__(self, row: dict[str, Any]):
        self._row = row

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return self._row


def _with_defaults(table, row: dict[str, Any]) -> dict[str, Any]:
    """The row with the Python-side column defaults of the columns it leaves out, as an
    executed INSERT gets them: inside a CTE, SQLAlchemy would not compute them."""
    filled = dict(row)
    for column in table.columns:
        default = column.default
        if column.key in filled or default is None:
            continue
        if default.is_scalar:
            filled[column.key] = default.arg
        elif default.is_callable:
            filled[column.key] = default.arg(_Inserting(row))
    return filled


class WriteBatch:
    """The queued writes of one unit of work, in order."""

    def __init__(self) -> None:
        self._writes: list[Write] = []

    def __bool__(self) -> bool:
        return bool(self._writes)

    def clear(self) -> None:
        self._writes.clear()

    def unaffected(self, statement) -> bool:
        """Whether `statement` is a SELECT reading none of the tables the queued writes
        change (then it may run before them: what it reads is the same either way)."""
        if not isinstance(statement, Select):
            return False
        written = {write.table for write in self._writes}
        return written.isdisjoint(_tables_read(statement))

    def must_send_before(self, write: Write) -> bool:
        """Whether `write` could depend on a queued write (see the module's note)."""
        for queued in self._writes:
            if queued.table != write.table:
                continue
            if not isinstance(write.statement, Insert) or isinstance(queued.statement, Delete):
                return True
        return False

    def add(self, write: Write) -> None:
        self._writes.append(write)

    def send(self, connection: Connection) -> None:
        """Send the queued writes on `connection` (its transaction); raise the first
        failed write's conflict. The queue is empty afterwards, whatever happened."""
        writes, self._writes = self._writes, []
        if connection.dialect.name == "postgresql" and len(writes) > 1:
            for write, count in zip(writes, _together(connection, writes)):
                _check(write, count)
        else:
            for write in writes:
                _check(write, connection.execute(write.statement, write.parameters).rowcount)


def _check(write: Write, count: int) -> None:
    if write.conflict is not None and count != 1:
        raise write.conflict


_READS: dict[int, tuple[Select, frozenset[str]]] = {}


def _tables_read(statement: Select) -> frozenset[str]:
    """The tables a SELECT reads, subqueries and joins included; remembered for the
    prebuilt statements the hot path runs (by identity, kept alive with the entry)."""
    known = _READS.get(id(statement))
    if known is not None and known[0] is statement:
        return known[1]
    tables = frozenset(table.name for table in find_tables(statement, check_columns=True)
                       if isinstance(table, TableClause))
    if len(_READS) < 1024:
        _READS[id(statement)] = (statement, tables)
    return tables


_COMBINED: dict[tuple, Select] = {}


def _together(connection: Connection, writes: list[Write]) -> list[int]:
    """One statement: each part a CTE returning a 1 per row, the main query the counts
    (summed per write, for an INSERT of several rows). The statement is built once per
    shape (which writes, which rows) and then only given its parameters, so the hot path
    pays neither the building nor SQLAlchemy's cache key of a new statement."""
    parts = [(number, part) for number, write in enumerate(writes)
             for part in write.parts(number)]
    shape = tuple(part[0] for _, part in parts)
    statement = _COMBINED.get(shape)
    if statement is None:
        ctes = [build().returning(literal_column("1").label("changed")).cte(f"write_{index}")
                for index, (_, (_, build, _)) in enumerate(parts)]
        statement = select(*(select(func.count()).select_from(cte).scalar_subquery()
                             .label(f"changed_{index}") for index, cte in enumerate(ctes)))
        if len(_COMBINED) < 512:
            _COMBINED[shape] = statement
    parameters = {key: value for _, (_, _, values) in parts for key, value in values.items()}
    per_write = [0] * len(writes)
    for (number, _), count in zip(parts, connection.execute(statement, parameters).one()):
        per_write[number] += count
    return per_write

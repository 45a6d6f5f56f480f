"""Many new rows into one table, inside the unit of work's transaction.

A payroll run writes a line per employee. On PostgreSQL an executemany still makes the
server plan and execute one INSERT per row (a thousand for a thousand employees), which
cost a payroll run more than scoring everyone; COPY streams the same rows as one
statement. Elsewhere (SQLite, in process) executemany is already the cheap way.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from sqlalchemy import JSON, Table, insert

from services.persistence.unit_of_work import UnitOfWork


def insert_rows(uow: UnitOfWork, table: Table, rows: list[Mapping[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by column name, all with the same keys) into `table`."""
    if not rows:
        return
    connection = uow.connection()
    if connection.dialect.name == "postgresql":
        _copy(connection.connection.driver_connection, table, rows)
    else:
        uow.core(insert(table), rows)


def _copy(driver_connection, table: Table, rows: list[Mapping[str, Any]]) -> None:
    names = list(rows[0])
    as_json = {name for name in names if isinstance(table.c[name].type, JSON)}
    columns = ", ".join(_quoted(name) for name in names)
    with driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {_quoted(table.name)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_values(row, names, as_json))


def _values(row: Mapping[str, Any], names: list[str], as_json: set[str]) -> Iterable[Any]:
    # As SQLAlchemy's JSON type would store them: None too becomes the JSON null.
    return [json.dumps(row[name]) if name in as_json else row[name] for name in names]


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'

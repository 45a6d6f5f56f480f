"""Portable backups: every table as data, restorable into SQLite or PostgreSQL.

This is how a deployment is backed up on either backend and how a company moves from
the SQLite demo to PostgreSQL. The file is gzip-compressed JSON Lines (UTF-8):

    {"dutyflow_backup": 1, "schema_revision": "0016", "tables": ["departments", ...]}
    {"table": "departments", "columns": ["id", "key", ...]}
    [1, "qa", ...]                      one line per row, in primary-key order
    ...
    {"end": {"rows": {"departments": 5, ...}}, "sha256": "..."}

`sha256` is the digest of every line before it, newlines included, so a truncated or
edited file is refused before anything is written. Values are JSON as they are, except
datetimes and dates (ISO 8601; aware ones in UTC), decimals (strings at the column's
scale) and bytes (base64). Nothing in the file depends on the backend or the time it was
written, so the same data gives the same file: a SQLite -> PostgreSQL -> SQLite round
trip can be checked by comparing dumps.

The dump reads one snapshot (a repeatable-read, read-only transaction on PostgreSQL; one
read transaction on SQLite) while the service keeps running. A restore goes into an
empty database only: it creates the schema at the backup's revision, loads every table
in one transaction (so a failure leaves the database as empty as it was), moves
PostgreSQL's id sequences past the loaded ids, then migrates to this version's schema.
"""
from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, Table, func, insert, inspect, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import SAWarning

from services.errors import InvalidInput
from services.persistence.db import READONLY
from services.persistence.models import Base
from services.persistence.schema import alembic_config, head_revision
from services.persistence.unit_of_work import Store

FORMAT_VERSION = 1
BATCH = 1000
# Tables a migration fills when it creates them (the org revision's one row): present in
# every new schema, so they do not make a database "not empty", and the backup's rows
# replace them.
SEEDED = frozenset({"org_revision"})


@dataclass(frozen=True)
class Summary:
    schema_revision: str
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


# Writing -------------------------------------------------------------------------------

def write_backup(store: Store, target: Path) -> Summary:
    """Dump every table to `target` (written beside it, then renamed over it when whole)."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        with open(partial, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
            summary = _dump(store, out)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return summary


def _dump(store: Store, out: IO[bytes]) -> Summary:
    digest = hashlib.sha256()

    def line(value: Any) -> None:
        data = (json.dumps(value, ensure_ascii=False, sort_keys=True,
                           separators=(",", ":")) + "\n").encode()
        digest.update(data)
        out.write(data)

    options = {READONLY: True}
    if store.engine.dialect.name == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with store.engine.connect().execution_options(**options) as connection, connection.begin():
        revision = _revision(connection)
        tables = _dumped_tables(connection)
        line({"dutyflow_backup": FORMAT_VERSION, "schema_revision": revision,
              "tables": [table.name for table in tables]})
        rows = {}
        for table in tables:
            line({"table": table.name, "columns": [column.name for column in table.columns]})
            encoders = [json_encoder(column.type) for column in table.columns]
            result = connection.execution_options(stream_results=True, yield_per=BATCH) \
                .execute(select(table).order_by(*table.primary_key.columns))
            count = 0
            for row in result:
                line([encode(value) for encode, value in zip(encoders, row)])
                count += 1
            rows[table.name] = count
    out.write((json.dumps({"end": {"rows": rows}, "sha256": digest.hexdigest()}) + "\n").encode())
    return Summary(revision, rows)


def _revision(connection: Connection) -> str:
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        raise InvalidInput("the database has no DutyFlow schema: nothing to back up")
    head = head_revision()
    if revision != head:
        raise InvalidInput(f"the database is at schema revision {revision}, this DutyFlow at "
                           f"{head}: run `dutyflow init-db` first")
    return revision


def _dumped_tables(connection: Connection) -> list[Table]:
    known = {table.name for table in Base.metadata.sorted_tables}
    present = set(inspect(connection).get_table_names()) - {"alembic_version"}
    strangers = sorted(present - known)
    if strangers:
        raise InvalidInput(f"tables this DutyFlow does not know: {', '.join(strangers)}")
    return [table for table in Base.metadata.sorted_tables if table.name in present]


def json_encoder(kind: sqltypes.TypeEngine) -> Callable[[Any], Any]:
    """How a value of a column of this type is written as JSON (and read back: _decoder)."""
    kind = getattr(kind, "impl_instance", None) or getattr(kind, "impl", kind)
    if isinstance(kind, sqltypes.DateTime):
        return lambda value: None if value is None else (
            value.astimezone(dt.timezone.utc) if value.tzinfo else value).isoformat()
    if isinstance(kind, sqltypes.Date):
        return lambda value: None if value is None else value.isoformat()
    if isinstance(kind, sqltypes.Numeric) and not isinstance(kind, sqltypes.Float):
        scale = kind.scale
        return lambda value: None if value is None else (
            f"{Decimal(value):.{scale}f}" if scale is not None else str(Decimal(value)))
    if isinstance(kind, sqltypes.LargeBinary):
        return lambda value: None if value is None else base64.b64encode(value).decode()
    return lambda value: value


# Reading -------------------------------------------------------------------------------

def _lines(source: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with gzip.open(source, "rb") as stream:
            yield from enumerate(stream, start=1)
    except (OSError, EOFError) as err:
        raise InvalidInput(f"{source}: not a readable DutyFlow backup ({err})") from None


def verify_backup(source: Path) -> Summary:
    """Check structure and checksum without touching any database."""
    digest = hashlib.sha256()
    header, end, rows, table, width = None, None, {}, None, 0
    for number, data in _lines(source):
        if end is not None:
            raise InvalidInput(f"{source}:{number}: data after the end line")
        item = _parse(source, number, data)
        if isinstance(item, dict) and "end" in item:
            if item.get("sha256") != digest.hexdigest():
                raise InvalidInput(f"{source}:{number}: checksum mismatch: the file was "
                                   "changed or damaged")
            end = item
            continue
        digest.update(data)
        if header is None:
            if not isinstance(item, dict) or item.get("dutyflow_backup") != FORMAT_VERSION:
                raise InvalidInput(f"{source}:1: not a DutyFlow backup of format "
                                   f"{FORMAT_VERSION}")
            header = item
        elif isinstance(item, dict) and "table" in item:
            table, width = item["table"], len(item["columns"])
            rows[table] = 0
        elif isinstance(item, list) and table is not None and len(item) == width:
            rows[table] += 1
        else:
            raise InvalidInput(f"{source}:{number}: not a row of table {table}")
    if end is None:
        raise InvalidInput(f"{source}: the end line is missing: the file is incomplete")
    if end["end"].get("rows") != rows:
        raise InvalidInput(f"{source}: row counts differ from the end line's")
    return Summary(header["schema_revision"], rows)


def _parse(source: Path, number: int, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise InvalidInput(f"{source}:{number}: not a JSON line") from None


def restore_backup(store: Store, source: Path) -> Summary:
    """Load a verified backup into an empty database, then migrate it to this version."""
    summary = verify_backup(source)
    _require_empty(store)
    command.upgrade(alembic_config(store), summary.schema_revision)
    with store.engine.begin() as connection:
        metadata = MetaData()
        with warnings.catch_warnings():  # indexes on expressions: not needed to insert rows
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            metadata.reflect(connection)
        for name in SEEDED & set(summary.rows):
            connection.execute(metadata.tables[name].delete())
        table, decoders, batch = None, [], []
        for number, data in _lines(source):
            item = json.loads(data)
            if number == 1 or (isinstance(item, dict) and "end" in item):
                continue
            if isinstance(item, dict):
                _flush(connection, table, batch)
                table = metadata.tables[item["table"]]
                columns = [table.columns[name] for name in item["columns"]]
                decoders = [(column.name, _decoder(column.type, connection.dialect.name))
                            for column in columns]
                continue
            batch.append({name: decode(value) for (name, decode), value in zip(decoders, item)})
            if len(batch) >= BATCH:
                _flush(connection, table, batch)
        _flush(connection, table, batch)
        if connection.dialect.name == "postgresql":
            _advance_sequences(connection, metadata)
    command.upgrade(alembic_config(store), "head")
    return summary


def _require_empty(store: Store) -> None:
    with store.engine.connect() as connection:
        present = set(inspect(connection).get_table_names()) - {"alembic_version"} - SEEDED
        for name in sorted(present):
            if connection.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first():
                raise InvalidInput(f"the database is not empty (table {name} has rows): "
                                   "restore into an empty database")


def _flush(connection: Connection, table: Table | None, batch: list[dict]) -> None:
    if table is not None and batch:
        connection.execute(insert(table), batch)
    batch.clear()


def _decoder(kind: sqltypes.TypeEngine, dialect: str) -> Callable[[Any], Any]:
    if isinstance(kind, sqltypes.DateTime):
        def datetime(value):
            if value is None:
                return None
            moment = dt.datetime.fromisoformat(value)
            return moment.replace(tzinfo=None) if dialect == "sqlite" else moment
        return datetime
    if isinstance(kind, sqltypes.Date):
        return lambda value: None if value is None else dt.date.fromisoformat(value)
    if isinstance(kind, sqltypes.Numeric) and not isinstance(kind, sqltypes.Float):
        return lambda value: None if value is None else Decimal(value)
    if isinstance(kind, sqltypes.LargeBinary):
        return lambda value: None if value is None else base64.b64decode(value)
    return lambda value: value


def _advance_sequences(connection: Connection, metadata: MetaData) -> None:
    """Ids were loaded as they were: the next id drawn must come after them."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, sqltypes.Integer):
                continue
            sequence = connection.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                         {"t": table.name, "c": column.name})
            if sequence:
                highest = connection.scalar(select(func.max(column)))
                connection.execute(text("SELECT setval(:s, :v, :called)"),
                                   {"s": sequence, "v": highest or 1,
                                    "called": highest is not None})


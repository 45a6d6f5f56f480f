"""A consistent copy of a live SQLite database.

Copying the file with `cp` is not a backup: in WAL mode, committed transactions live in
the `-wal` file until a checkpoint moves them into the main file, so the main file alone
is stale, and copied while a checkpoint writes it, corrupt. SQLite's online backup API
copies what one read transaction sees (main file and WAL together) while others go on
writing. PostgreSQL is backed up with `pg_dump -Fc` (README, Backups).
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from services.errors import InvalidInput


def backup_sqlite(database_url: str, target: Path) -> None:
    """Write a self-contained copy of the SQLite database to `target`.

    The copy is made next to the target and renamed over it when complete, so an
    existing backup is replaced only by a whole new one.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise InvalidInput("dutyflow backup copies a SQLite database file; back up PostgreSQL "
                           "with pg_dump -Fc (see the README's Backups section)")
    if not Path(url.database).is_file():  # sqlite3 would create an empty one and copy that
        raise InvalidInput(f"there is no SQLite database at {url.database}")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(url.database)
    copy = sqlite3.connect(partial)
    try:
        source.backup(copy)  # every page in one step: one read transaction, one snapshot
        # A single file, restorable by copying it back: no -wal file to keep beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()
    os.replace(partial, target)

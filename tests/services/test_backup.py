"""`dutyflow backup --sqlite-copy`: a consistent copy of a live SQLite database in WAL mode."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading

import pytest

from services.errors import InvalidInput
from services.persistence.backup import backup_sqlite
from tests.conftest import ROOT


def _write_until(path, stop: threading.Event, written: list[int]) -> None:
    """Another process's work: one row per transaction, big enough to checkpoint often."""
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE load (n INTEGER PRIMARY KEY, pad TEXT)")
    n = 0
    while not stop.is_set() or n < 200:
        n += 1
        writer.execute("INSERT INTO load VALUES (?, ?)", (n, "x" * 4000))
        written.append(n)
    writer.close()


def test_a_backup_of_a_live_wal_database_while_another_connection_writes_is_whole(
        tmp_path, sqlite_template):
    live = tmp_path / "dutyflow.db"
    shutil.copy(sqlite_template, live)
    assert sqlite3.connect(live).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    stop, written = threading.Event(), []
    writer = threading.Thread(target=_write_until, args=(live, stop, written))
    writer.start()
    try:
        while len(written) < 50:  # the backup starts in the middle of the writing
            threading.Event().wait(0.01)
        result = subprocess.run([sys.executable, "-m", "web.cli", "backup",
                                 "--sqlite-copy", str(tmp_path / "backup.db")], cwd=ROOT, capture_output=True,
                                text=True, timeout=120,
                                env=dict(os.environ, DATABASE_URL=f"sqlite:///{live}"))
    finally:
        stop.set()
        writer.join()
    assert result.returncode == 0, result.stderr
    assert written[-1] >= 200
    copy = sqlite3.connect(tmp_path / "backup.db")
    assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
    count, highest = copy.execute("SELECT count(*), max(n) FROM load").fetchone()
    assert count == highest > 0  # one snapshot: every row up to some commit, none after
    assert copy.execute("SELECT count(*) FROM employees").fetchone() == (0,)  # the schema too
    assert not list(tmp_path.glob(".backup.db.partial"))


def test_a_postgresql_database_is_not_backed_up_by_dutyflow(tmp_path):
    with pytest.raises(InvalidInput, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://postgres@127.0.0.1:5432/test", tmp_path / "b.db")
    with pytest.raises(InvalidInput, match="no SQLite database"):
        backup_sqlite(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path / "b.db")
    assert not (tmp_path / "missing.db").exists()

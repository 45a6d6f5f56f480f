"""`dutyflow backup` / `dutyflow restore`: a logical dump of every table that moves a
deployment between SQLite and PostgreSQL and back without changing a byte of its data,
and a restored service that carries on with the work."""
from __future__ import annotations

import datetime as dt
import gzip
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from services.demo import load_demo
from services.errors import InvalidInput
from services.identity.access import actor_named
from services.persistence.logical_backup import restore_backup, verify_backup, write_backup
from services.persistence.models import ProcessDefinition, ProcessInstance, Task, TaskEvent
from services.persistence.schema import init_db
from services.persistence.unit_of_work import Store
from services.workflow import instances
from services.workflow.definitions import model_of
from tests.conftest import POSTGRES_URL, ROOT



def answer(form) -> dict:
    """What a person might enter in a form: the first option, the least number allowed,
    a short text."""
    values = {}
    for field in form.fields:
        if field.readonly or field.type == "file":  # files travel with a page or API upload
            continue
        if field.type == "enum":
            values[field.id] = field.options[0][0]
        elif field.type in ("long", "integer", "decimal", "number"):
            values[field.id] = int(field.minimum) if field.minimum is not None else 1
        elif field.type == "boolean":
            values[field.id] = True
        elif field.type == "date":
            values[field.id] = dt.date.today().isoformat()
        else:
            values[field.id] = "样品 A"[:field.max_length or 10]
    return values


@pytest.fixture
def empty_postgres():
    """A PostgreSQL schema with no tables at all (not even DutyFlow's)."""
    schema = f"dutyflow_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def demo_backup(tmp_path_factory):
    """The demo (org, diagrams, history, payroll, open work) on SQLite, backed up."""
    folder = tmp_path_factory.mktemp("demo")
    store = Store(f"sqlite:///{folder / 'demo.db'}")
    init_db(store)
    load_demo(store)  # with last month's final payroll run and this month's draft
    write_backup(store, folder / "demo.dump")
    store.dispose()
    return folder / "demo.dump"


def test_sqlite_to_postgresql_to_sqlite_gives_identical_dumps(demo_backup, empty_postgres,
                                                              tmp_path):
    on_postgres = Store(empty_postgres)
    restored = restore_backup(on_postgres, demo_backup)
    assert restored.rows["task_events"] > 10 and restored.rows["payroll_lines"] > 0
    write_backup(on_postgres, tmp_path / "from_postgres.dump")
    back_on_sqlite = Store(f"sqlite:///{tmp_path / 'again.db'}")
    restore_backup(back_on_sqlite, tmp_path / "from_postgres.dump")
    write_backup(back_on_sqlite, tmp_path / "again.dump")
    original = gzip.decompress(demo_backup.read_bytes())
    assert gzip.decompress((tmp_path / "from_postgres.dump").read_bytes()) == original
    assert (tmp_path / "again.dump").read_bytes() == demo_backup.read_bytes()
    on_postgres.dispose()
    back_on_sqlite.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_restored_service_completes_the_next_task_of_every_open_instance(
        demo_backup, backend, tmp_path, request):
    url = (f"sqlite:///{tmp_path / 'restored.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres"))
    store = Store(url)
    restore_backup(store, demo_backup)
    with store.reading() as uow:
        open_work = uow.session.execute(
            select(Task.id, Task.element_id, Task.department_key, Task.process_instance_id,
                   Task.assignee, Task.candidate_users, ProcessInstance.definition_id)
            .join(ProcessInstance).where(Task.status == "ready")
            .order_by(Task.process_instance_id)).all()
        events_before = uow.session.scalar(select(func.count()).select_from(TaskEvent))
    first_per_instance = {row.process_instance_id: row for row in reversed(open_work)}
    assert first_per_instance
    for row in first_per_instance.values():
        with store.writing() as uow:
            doer = row.assignee or (row.candidate_users or [None])[0] or \
                _member_of(uow, row.department_key)
            definition = uow.session.get(ProcessDefinition, row.definition_id)
            form = model_of(uow, definition).duties[row.element_id].form
            instances.complete_task(uow, actor_named(uow, doer), row.id, answer(form))
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TaskEvent)) == \
            events_before + len(first_per_instance)  # new ids drawn after the restored ones
        assert not uow.session.scalar(select(func.count()).select_from(ProcessInstance)
                                      .where(ProcessInstance.status == "error"))
    store.dispose()


def _member_of(uow, department_key: str) -> str:
    from services.persistence.models import Employee
    return uow.session.scalars(select(Employee.username).where(
        Employee.department_key == department_key, Employee.active).order_by(
        Employee.username)).first()


def test_a_database_with_rows_is_refused_and_left_as_it_was(demo_backup, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'busy.db'}")
    restore_backup(store, demo_backup)
    with store.reading() as uow:
        before = uow.session.scalar(select(func.count()).select_from(TaskEvent))
    with pytest.raises(InvalidInput, match="not empty"):
        restore_backup(store, demo_backup)
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TaskEvent)) == before
    store.dispose()


def test_a_damaged_or_truncated_file_is_refused_before_anything_is_written(demo_backup,
                                                                           tmp_path):
    lines = gzip.decompress(demo_backup.read_bytes()).splitlines(keepends=True)
    edited = [line.replace(b'"pass"', b'"fail"') for line in lines]
    assert edited != lines
    (tmp_path / "edited.dump").write_bytes(gzip.compress(b"".join(edited)))
    (tmp_path / "cut.dump").write_bytes(gzip.compress(b"".join(lines[:-5])))
    (tmp_path / "junk.dump").write_bytes(b"not gzip at all")
    with pytest.raises(InvalidInput, match="checksum"):
        verify_backup(tmp_path / "edited.dump")
    with pytest.raises(InvalidInput, match="incomplete"):
        verify_backup(tmp_path / "cut.dump")
    with pytest.raises(InvalidInput, match="not a readable DutyFlow backup"):
        verify_backup(tmp_path / "junk.dump")
    store = Store(f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(InvalidInput, match="checksum"):
        restore_backup(store, tmp_path / "edited.dump")
    with store.engine.connect() as connection:  # no schema was even created
        assert connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar() == 0
    store.dispose()


def test_the_cli_backs_up_and_restores(demo_backup, tmp_path, empty_postgres):
    def cli(*args: str, url: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, text=True,
                              capture_output=True, timeout=300,
                              env=dict(os.environ, DATABASE_URL=url))
    restored = cli("restore", str(demo_backup), url=empty_postgres)
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout and "schema 00" in restored.stdout
    again = cli("restore", str(demo_backup), url=empty_postgres)
    assert again.returncode != 0 and "not empty" in again.stderr
    dumped = cli("backup", str(tmp_path / "cli.dump"), url=empty_postgres)
    assert dumped.returncode == 0, dumped.stderr
    assert (tmp_path / "cli.dump").read_bytes() == demo_backup.read_bytes()

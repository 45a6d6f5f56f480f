"""A step's writes, queued and sent together: one statement on PostgreSQL, one after the
other on SQLite, with the same rows, the same conflicts and the same column defaults."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from services.errors import Conflict
from services.identity.access import actor_named
from services.persistence import db, step_store
from services.persistence.models import Employee, ProcessInstance, Task, TaskEvent, utcnow
from services.persistence.statuses import TaskStatus
from services.persistence.unit_of_work import Store
from services.workflow import instances
from services.workflow.events import completion_event
from tests.services.helpers import DELIVERY, deploy, import_demo_org, ready_task, start


@pytest.fixture
def demo(store):
    import_demo_org(store)
    deploy(store)
    return store


def statements_of(store: Store) -> list[str]:
    """Every statement sent to the database from now on (SQL text, in order)."""
    sent: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _record(_conn, _cursor, statement, _parameters, _context, _many):
        sent.append(" ".join(statement.split()))

    return sent


def writes(sent: list[str]) -> list[str]:
    return [statement for statement in sent
            if statement.split()[0] in ("INSERT", "UPDATE", "DELETE", "WITH")]


def test_a_completion_sends_its_writes_as_one_statement_on_postgresql(demo):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    sent = statements_of(demo)
    with demo.writing() as uow:
        done = instances.complete_task(uow, actor_named(uow, "zhang.proc"), task.id, DELIVERY)
    step_writes = writes(sent)
    if demo.engine.dialect.name == "postgresql":
        # close the task, its event, the next task, its boundary timer, the new state
        [together] = step_writes
        assert together.startswith("WITH write_0 AS (UPDATE tasks")
        for part in ("INSERT INTO task_events", "INSERT INTO tasks", "INSERT INTO timers",
                     "UPDATE process_instances"):
            assert part in together
    else:
        assert [statement.split()[:3] for statement in step_writes] == [
            ["UPDATE", "tasks", "SET"], ["INSERT", "INTO", "task_events"],
            ["INSERT", "INTO", "tasks"], ["INSERT", "INTO", "timers"],
            ["UPDATE", "process_instances", "SET"]]
    with demo.reading() as uow:
        closed = uow.session.get(Task, task.id)
        assert (closed.status, closed.completed_by) == (TaskStatus.COMPLETED, "zhang.proc")
        assert uow.session.get(ProcessInstance, instance_id).lock_version == 2
        [next_task] = done.ready
        assert uow.session.get(Task, next_task.id).element_id == "inspect_goods"
        assert uow.session.scalar(select(func.count()).select_from(TaskEvent)) == 1


def test_the_instance_version_still_decides_and_the_loser_leaves_nothing(demo):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    now = utcnow()
    with demo.writing() as uow:
        step_store.close_task(uow, task.id, "zhang.proc", now)
        step_store.save_state(uow, instance_id, 7, state_json="{}", status="running",
                              error=None, data={}, at=now)  # version 1 is stored, not 7
        with pytest.raises(Conflict, match="process instance was changed by someone else"):
            uow.commit()
    with demo.reading() as uow:
        assert uow.session.get(Task, task.id).status == TaskStatus.READY
        assert uow.session.get(ProcessInstance, instance_id).lock_version == 1


def test_a_task_closed_meanwhile_raises_its_own_conflict_at_the_next_read(demo):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    with demo.writing() as uow:
        step_store.close_task(uow, task.id, "zhang.proc", utcnow())
        uow.commit()
    with demo.writing() as uow:
        step_store.close_task(uow, task.id, "zhang.proc", utcnow(),
                              conflict=Conflict("taken meanwhile"))
        with pytest.raises(Conflict, match="taken meanwhile"):
            uow.session.scalar(select(func.count()).select_from(Task))  # an ORM read sends


def test_queued_events_get_their_column_defaults_computed_as_a_plain_insert_does(demo):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    with demo.writing() as uow:
        actor = actor_named(uow, "zhang.proc")
        row = uow.core(step_store._TASK_STEP, {"task_id": task.id}).first()
        completed = row.created_at + dt.timedelta(seconds=90, microseconds=700)
        event_values = completion_event(row, actor, DELIVERY, completed)
        step_store.append_event(uow, event_values)
        step_store.close_task(uow, task.id, "zhang.proc", completed)
        uow.commit()
    with demo.reading() as uow:
        stored = uow.session.scalars(select(TaskEvent)).one()
        assert stored.handling_seconds in (90, 91)  # both times cut to the second
        assert stored.on_time is (None if task.due_at is None else True)
        assert stored.kind == "completed" and stored.escalated is False


def test_a_write_of_a_table_already_written_sees_the_earlier_write(demo):
    """Inserted rows, then an UPDATE of them: sent apart, so the update finds them."""
    instance_id = start(demo)
    sent = statements_of(demo)
    with demo.writing() as uow:
        step_store.add_tasks(uow, [dict(
            id="queued-task", process_instance_id=instance_id, process_key="inbound_materials",
            element_id="inspect_goods", name="Inspect", lane=None, department_key="quality",
            candidate_departments=[], assignee=None, claimed_at=None, candidate_users=[],
            completed_by=None, completed_at=None, status=TaskStatus.READY,
            created_at=utcnow(), due_at=None)])
        step_store.cancel_tasks(uow, ["queued-task"])
        uow.commit()
    assert len(writes(sent)) == 2
    with demo.reading() as uow:
        assert uow.session.get(Task, "queued-task").status == TaskStatus.CANCELLED


def test_a_select_of_tables_no_queued_write_touches_runs_before_them(demo):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    with demo.writing() as uow:
        step_store.close_task(uow, task.id, "zhang.proc", utcnow())
        sent = statements_of(demo)
        uow.core(select(Employee.username).where(Employee.username == "zhang.proc")).all()
        assert not writes(sent)  # employees: nothing queued writes it
        status = uow.core(select(Task.status).where(Task.id == task.id)).scalar()
        assert status == TaskStatus.COMPLETED  # tasks: the queued close went first
        assert len(writes(sent)) == 1


def test_a_rolled_back_unit_of_work_drops_what_it_queued(demo):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    with demo.writing() as uow:
        step_store.close_task(uow, task.id, "zhang.proc", utcnow())
        uow.session.rollback()
        uow.commit()
    with demo.reading() as uow:
        assert uow.session.get(Task, task.id).status == TaskStatus.READY


def test_a_pooled_connection_is_pinged_only_after_idling(store, monkeypatch):
    """A connection cut while idle (a restart, a firewall) is replaced without a failed
    request; one used moments ago is handed out without a ping's round trip."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    with store.engine.connect() as connection:
        first_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    pings = []
    monkeypatch.setattr(store.engine.dialect, "do_ping",
                        lambda dbapi_connection, original=store.engine.dialect.do_ping:
                        pings.append(1) or original(dbapi_connection))
    with store.engine.connect() as connection:  # used moments ago: no ping
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() == first_pid
    assert pings == []
    killer = Store(store.database_url)
    with killer.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
    killer.dispose()
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.05)
    time.sleep(0.1)
    with store.engine.connect() as connection:  # idle: pinged, found dead, replaced
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != first_pid
    assert pings == [1]



def test_a_transactions_first_statement_answers_as_a_plain_execute(store):
    """Its BEGIN travels with it (PostgreSQL): rows, row counts and errors are as ever."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite begins with BEGIN IMMEDIATE")
    with store.engine.connect() as connection:
        connection.execute(text("CREATE TEMP TABLE probe (x integer)"))
        connection.execute(text("INSERT INTO probe VALUES (1), (2), (3)"))
        connection.commit()
        assert connection.execute(text("UPDATE probe SET x = x + 10 WHERE x > 1")).rowcount == 2
        assert connection.execute(text("SELECT sum(x) FROM probe")).scalar() == 26
        connection.rollback()
        assert connection.execute(text("SELECT x FROM probe ORDER BY x")).scalars().all() == \
            [1, 2, 3]
        connection.rollback()
        with pytest.raises(DBAPIError, match="division by zero"):
            connection.execute(text("SELECT 1 / (x - 1) FROM probe"))
        connection.rollback()
        assert connection.execute(text("SELECT count(*) FROM probe")).scalar() == 3


def test_a_repeated_steps_combined_write_is_parsed_once_per_process(demo):
    """psycopg parses placeholders once per statement text, long ones included."""
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("SQLite sends each write on its own; nothing to parse")
    from psycopg import _queries

    first, second = (ready_task(demo, start(demo), "register_delivery") for _ in range(2))
    with demo.writing() as uow:
        instances.complete_task(uow, actor_named(uow, "zhang.proc"), first.id, DELIVERY)
    sent = statements_of(demo)
    parsed_before = _queries._query2pg.cache_info()
    with demo.writing() as uow:
        instances.complete_task(uow, actor_named(uow, "zhang.proc"), second.id, DELIVERY)
    parsed = _queries._query2pg.cache_info()
    [together] = writes(sent)
    assert together.count("%(") > 50  # over psycopg's own limit for caching a parse
    # every statement of the second completion came from the cache, the combined write too
    assert parsed.hits - parsed_before.hits == len(sent)
    assert parsed.misses == parsed_before.misses

"""The demo is alive whenever it is loaded: history up to today, open work for everyone."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from payroll.periods import Period
from services.demo import load_demo
from services.identity.access import actor_named
from services.persistence.models import PayrollRun, Task, TaskEvent, TaskHistory, utcnow
from services.persistence.statuses import TaskStatus
from services.reporting import dashboard
from services.workflow import tasks

# The demo users the README names.
DEMO_USERS = ("zhang.proc", "li.qa", "guo.wh", "wang.qa", "chen.design", "zhao.hr", "qian.hr",
              "admin")
DUE_SOON = dt.timedelta(hours=24)


def test_every_demo_user_has_overdue_and_due_soon_work_and_the_current_month_has_data(store):
    now = utcnow()
    load_demo(store, "Asia/Shanghai", now=now)
    current = Period.of(now, "Asia/Shanghai")
    with store.reading() as uow:
        for username in DEMO_USERS:
            mine = tasks.list_tasks(uow, actor_named(uow, username),
                                    tasks.TaskQuery(scope="mine", limit=200)).tasks
            due = [task.due_at for task in mine if task.due_at]
            assert [when for when in due if when < now], f"{username} has nothing overdue"
            assert [when for when in due if now < when < now + DUE_SOON], \
                f"{username} has nothing due within the day"
        qa = tasks.list_tasks(uow, actor_named(uow, "li.qa"), tasks.TaskQuery(limit=200)).tasks
        assert any(task.due_at and task.due_at < now for task in qa)  # overdue
        assert any(task.due_at and now < task.due_at < now + dt.timedelta(hours=6) for task in qa)
        assert any(task.assignee == "li.qa" for task in qa)  # claimed (transferred to her)
        signers = uow.session.scalars(select(Task.assignee).where(
            Task.element_id == "countersign", Task.status == TaskStatus.READY)).all()
        assert sorted(signers) == ["admin", "admin", "chen.design", "chen.design", "qian.hr",
                                   "qian.hr", "wang.qa", "zhao.hr", "zhao.hr"]  # two open
        assert uow.session.scalar(select(func.count()).select_from(TaskHistory).where(
            TaskHistory.action == "transferred")) == 1

        months = [current.previous().previous(), current.previous(), current]
        for month in months:
            events = uow.session.scalar(select(func.count()).select_from(TaskEvent).where(
                TaskEvent.completed_at >= month.start, TaskEvent.completed_at < month.end))
            assert events >= 20, f"{month} has {events} completions"
        assert uow.session.scalar(select(func.max(TaskEvent.completed_at))) <= now
        ranking = dashboard.department_rates(uow, actor_named(uow, "admin"), current)
        assert sum(row["completed"] for row in ranking) >= 20
        runs = {run.period: run.status for run in uow.session.scalars(select(PayrollRun))}
        assert runs == {str(current.previous()): "final", str(current): "draft"}
    assert load_demo(store, "Asia/Shanghai") == "demo already loaded"


def test_a_month_only_minutes_old_still_has_its_history_before_now(store):
    now = dt.datetime(2027, 3, 1, 0, 20, tzinfo=dt.timezone.utc)
    load_demo(store, "UTC", now=now)
    with store.reading() as uow:
        first = uow.session.scalar(select(func.min(TaskEvent.completed_at)).where(
            TaskEvent.completed_at >= now.replace(minute=0)))
        last = uow.session.scalar(select(func.max(TaskEvent.completed_at)))
    assert first is not None and last <= now

"""A reorganisation previewed before it applies: owners of steps before and after, the open
tasks that move, lanes left with no department (refused), people who change department and
the KPI scheme that scores them next. A preview writes nothing; the import moves the tasks."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from payroll.periods import Period
from services.errors import Conflict, InvalidInput, PermissionDenied
from services.identity.access import actor_named
from services.pay import kpi, reorganisation
from services.persistence.models import Base, Notification, Task, TaskHistory
from services.workflow import tasks
from tests.conftest import BPMN_DIR
from tests.notify.support import opt_in
from tests.services.helpers import DELIVERY, complete, deploy, import_demo_org, ready_task, start

DEMO = (BPMN_DIR / "demo_org.yaml").read_text("utf-8")
# Production takes over inspection: QA keeps its key but no longer answers to 质量部, and
# li.qa moves with the work.
MOVED = DEMO.replace("{key: qa, name: 质量部,", "{key: qa, name: 质检组,").replace(
    "lanes: [Production]", "lanes: [Production, 质量部]").replace(
    "{username: li.qa, name: 李娜, department: qa,", "{username: li.qa, name: 李娜, department: production,")
# QA is renamed and nobody answers to 质量部 any more: the inspection lane routes nowhere.
ORPHANED = DEMO.replace("{key: qa, name: 质量部,", "{key: qa, name: 质检组,")
PRODUCTION_SCHEME = {"indicators": [{"metric": "completed_count", "weight": 100, "target": 10}]}
PERIOD = Period.of(dt.datetime.now(dt.timezone.utc))


@pytest.fixture
def demo(store):
    import_demo_org(store)
    deploy(store, "inbound_materials.bpmn")
    deploy(store, "contract_approval.bpmn")
    return store


def waiting_for_inspection(store) -> int:
    instance_id = start(store)
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    return instance_id


def contents(store, ignore: tuple[str, ...] = ()) -> dict[str, list]:
    """Every row of every table (but `ignore`), to show that nothing was written."""
    with store.reading() as uow:
        return {table.name: sorted(map(repr, uow.session.execute(select(table)).all()))
                for table in Base.metadata.sorted_tables if table.name not in ignore}


def hr(store):
    with store.reading() as uow:
        return actor_named(uow, "zhao.hr")


def preview(store, text: str, who: str = "zhao.hr") -> dict:
    with store.reading() as uow:
        return reorganisation.preview(uow, actor_named(uow, who), text.encode("utf-8"),
                                      "org.yaml", PERIOD)


def test_a_preview_lists_the_moved_step_its_open_tasks_and_people_and_writes_nothing(demo):
    first, second = waiting_for_inspection(demo), waiting_for_inspection(demo)
    claimed = ready_task(demo, first, "inspect_goods")
    with demo.writing() as uow:
        tasks.claim(uow, actor_named(uow, "he.qa"), claimed.id)
    with demo.writing() as uow:
        kpi.set_scheme(uow, hr(demo), "production", PRODUCTION_SCHEME)
    before = contents(demo)
    found = preview(demo, MOVED)
    assert contents(demo) == before
    assert not found["refused"] and found["orphans"] == []
    moved = [(step["process_key"], step["element_id"], step["before"]["department"],
              step["after"]["department"]) for step in found["steps"] if step["moves"]]
    assert moved == [("inbound_materials", "inspect_goods", {"key": "qa", "name": "质量部"},
                      {"key": "production", "name": "生产部"})]
    unmoved = next(step for step in found["steps"] if step["element_id"] == "register_delivery")
    assert unmoved["before"] == unmoved["after"] and not unmoved["moves"]
    assert {(task["process_instance_id"], task["assignee"], task["unassigned"],
             task["before"]["department"]["key"], task["after"]["department"]["key"])
            for task in found["moved_tasks"]} == {(first, "he.qa", True, "qa", "production"),
                                                  (second, None, False, "qa", "production")}
    assert found["people"] == [{
        "username": "li.qa", "name": "李娜", "before": {"key": "qa", "name": "质量部"},
        "after": {"key": "production", "name": "生产部"},
        "scheme": {"department": "production", "version": 1, "effective_from": None,
                   "indicators": [{"metric": "completed_count", "weight": "100", "target": "10"}]}}]

    opt_in(demo, "zhou.prod")  # hears of production's new tasks
    with demo.writing() as uow:
        done = reorganisation.import_file(uow, hr(demo), MOVED.encode("utf-8"), "org.yaml",
                                          expected_revision=found["revision"])
    assert done.moved_tasks == 2
    with demo.reading() as uow:
        told = uow.session.execute(select(Notification.task_id, Notification.recipient).where(
            Notification.kind == "task_ready", Notification.recipient == "zhou.prod")).all()
    assert sorted(told) == sorted((ready_task(demo, instance_id, "inspect_goods").id, "zhou.prod")
                                  for instance_id in (first, second))
    for instance_id in (first, second):
        task = ready_task(demo, instance_id, "inspect_goods")
        assert (task.department_key, task.assignee) == ("production", None)
    with demo.reading() as uow:
        history = uow.session.scalars(select(TaskHistory).where(
            TaskHistory.task_id == claimed.id, TaskHistory.action == "rerouted")).one()
    assert (history.actor, history.from_username) == ("zhao.hr", "he.qa")
    assert history.reason.endswith("qa -> production")
    # The moved task is production's now: its people do it, QA's may not.
    complete(demo, second, "inspect_goods", "zhou.prod", {"result": "pass", "defects": 0})
    again = preview(demo, MOVED)
    assert again["moved_tasks"] == [] and not any(step["moves"] for step in again["steps"])
    assert again["people"] == []


def test_an_org_that_orphans_a_lane_is_refused_and_changes_nothing(demo):
    waiting_for_inspection(demo)
    before = contents(demo)
    found = preview(demo, ORPHANED)
    assert found["refused"]
    assert found["orphans"] == [{"process_key": "inbound_materials", "version": 1,
                                 "element_id": "inspect_goods", "name": "Inspect goods",
                                 "owner": "质量部"}]
    with pytest.raises(InvalidInput) as err:
        with demo.writing() as uow:
            reorganisation.import_file(uow, hr(demo), ORPHANED.encode("utf-8"), "org.yaml")
    assert err.value.errors == ["inbound_materials v1: inspect_goods (Inspect goods): '质量部' "
                                "would route to no department"]
    assert contents(demo) == before


def test_only_hr_and_admins_preview_and_a_stale_preview_is_not_applied(demo):
    with pytest.raises(PermissionDenied):
        preview(demo, MOVED, who="li.qa")
    found = preview(demo, MOVED, who="admin")
    with demo.writing() as uow:
        reorganisation.import_file(uow, hr(demo), ORPHANED.replace("质检组", "质量部").replace(
            "position: Inspector,", "position: Senior Inspector,", 1).encode("utf-8"), "org.yaml")
    with pytest.raises(Conflict, match="preview the file again"):
        with demo.writing() as uow:
            reorganisation.import_file(uow, hr(demo), MOVED.encode("utf-8"), "org.yaml",
                                       expected_revision=found["revision"])
    with demo.reading() as uow:
        assert uow.session.scalar(select(Task.department_key).where(
            Task.element_id == "inspect_goods")) is None  # no task yet, nothing moved

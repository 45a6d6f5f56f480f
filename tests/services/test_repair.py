"""Incidents and their repair: a script error, a data fix, a retry, a fixed diagram
(SQLite and PostgreSQL; every step in a sandbox worker)."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.access import actor_named
from services.persistence.models import InstanceAction, TaskEvent
from services.workflow import instances, lifecycle, repair
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import complete, deploy, import_demo_org, ready_task


def scripted(script: str = "y = x + 1") -> bytes:
    """start -> fill (QA) -> script -> after (QA) -> end."""
    nodes = ["start", "fill", "run", "after", "end"]
    body = ['<bpmn:startEvent id="start"/>', user_task("fill"), user_task("after"),
            '<bpmn:endEvent id="end"/>',
            f'<bpmn:scriptTask id="run" scriptFormat="python"><bpmn:script>{script}'
            "</bpmn:script></bpmn:scriptTask>"]
    body += [flow(a, b) for a, b in zip(nodes, nodes[1:])]
    return process("\n".join(body), {"QA": nodes}, process_id="scripted")


@pytest.fixture
def failed(store) -> int:
    """An instance whose script failed after li.qa completed `fill`."""
    import_demo_org(store)
    deploy(store, "scripted.bpmn", scripted())
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "scripted", None, "li.qa").id
    assert complete(store, instance_id, "fill", "li.qa", {}).status == "error"
    return instance_id


def as_user(store, username, call, *args, **kwargs):
    with store.writing() as uow:
        return call(uow, actor_named(uow, username), *args, **kwargs)


def incidents(store, username="admin", **filters):
    with store.reading() as uow:
        return repair.list_incidents(uow, actor_named(uow, username), **filters)


def test_a_script_error_is_fixed_by_data_then_retried_to_completion(store, failed):
    [incident] = incidents(store, status="open")
    assert (incident.process_instance_id, incident.element_id, incident.kind) == \
        (failed, "run", "error")
    assert "name 'x' is not defined" in incident.message
    again = as_user(store, "admin", repair.retry, failed, "try once more")
    assert again.status == "error"  # nothing was fixed: a second incident says so
    assert len(incidents(store, status="open")) == 2

    fixed = as_user(store, "chen.design", repair.fix_data, failed, {"x": 41}, [],
                    "x was never asked for")
    assert fixed.status == "error" and fixed.data["x"] == 41
    done = as_user(store, "admin", repair.retry, failed, "x is set now")
    assert done.status == "running" and done.data["y"] == 42 and done.error is None
    assert incidents(store, status="open") == []
    assert len(incidents(store, status="resolved", element_id="run")) == 2
    assert complete(store, failed, "after", "li.qa", {}).status == "completed"
    with store.reading() as uow:
        log = [(row.kind, row.actor, row.status_before, row.status_after, row.details)
               for row in uow.session.scalars(select(InstanceAction).order_by(InstanceAction.id))]
        completions = uow.session.scalars(select(TaskEvent.element_id).order_by(TaskEvent.id)).all()
    assert log == [
        ("retry", "admin", "error", "error", {"retried": ["run"], "version": 1}),
        ("data_fix", "chen.design", "error", "error",
         {"set": {"x": 41}, "unset": [], "before": {}, "elements": ["run"]}),
        ("retry", "admin", "error", "running", {"retried": ["run"], "version": 1})]
    assert completions == ["fill", "after"]  # repairs credit nobody


def test_a_retry_on_a_fixed_diagram_moves_the_instance_to_that_version(store, failed):
    [v2] = deploy(store, "scripted.bpmn", scripted("y = 2"))
    assert v2.definition.version == 2
    done = as_user(store, "admin", repair.retry, failed, "script fixed in v2", version=2)
    assert (done.status, done.process_version, done.data["y"]) == ("running", 2, 2)
    assert ready_task(store, failed, "after")
    with store.reading() as uow:
        details = uow.session.scalars(select(InstanceAction.details)).one()
    assert details == {"retried": ["run"], "version": 2, "from_version": 1}


def test_a_diagram_without_the_reached_steps_is_refused_for_a_retry(store, failed):
    renamed = scripted("y = 2").replace(b'"run"', b'"compute"').replace(b"_run", b"_compute")
    deploy(store, "scripted.bpmn", renamed)
    with pytest.raises(InvalidInput, match="lacks run") as caught:
        as_user(store, "admin", repair.retry, failed, "try v2", version=2)
    assert "version" in caught.value.errors
    with pytest.raises(NotFound):
        as_user(store, "admin", repair.retry, failed, "try v9", version=9)


def test_only_admins_and_designers_repair_and_only_instances_in_error(store, failed):
    with pytest.raises(PermissionDenied):  # sees it (QA's work), may not repair it
        as_user(store, "li.qa", repair.retry, failed, "please")
    with pytest.raises(NotFound):
        as_user(store, "xu.sales", repair.fix_data, failed, {"x": 1}, [], "please")
    with pytest.raises(PermissionDenied):
        incidents(store, "wang.qa")
    as_user(store, "admin", repair.fix_data, failed, {"x": 1}, [], "fix")
    as_user(store, "admin", repair.retry, failed, "go")
    with pytest.raises(Conflict, match="not in error"):
        as_user(store, "admin", repair.retry, failed, "again")
    with pytest.raises(Conflict, match="not in error"):
        as_user(store, "admin", repair.fix_data, failed, {"x": 2}, [], "again")


@pytest.mark.parametrize("values, unset, field", [
    ({"_secret": 1}, [], "set"), ({"x": 1}, ["x"], "unset"), ({}, ["not a name"], "unset"),
    ({}, [], "_schema"), ({"1x": 1}, [], "set")])
def test_a_data_fix_takes_only_plain_variables(store, failed, values, unset, field):
    with pytest.raises(InvalidInput) as caught:
        as_user(store, "admin", repair.fix_data, failed, values, unset, "fix")
    assert field in caught.value.errors


def test_a_data_fix_unsets_and_records_the_values_before(store, failed):
    as_user(store, "admin", repair.fix_data, failed, {"x": "oops"}, [], "first try")
    fixed = as_user(store, "admin", repair.fix_data, failed, {}, ["x"], "wrong type")
    assert "x" not in fixed.data
    with store.reading() as uow:
        last = uow.session.scalars(select(InstanceAction).order_by(InstanceAction.id.desc())).first()
    assert last.details["before"] == {"x": "oops"} and last.details["unset"] == ["x"]


def test_incidents_filter_by_process_and_element_and_page(store, failed):
    for _ in range(2):
        as_user(store, "admin", repair.retry, failed, "again")
    assert len(incidents(store, process_key="scripted")) == 3
    assert incidents(store, process_key="other") == []
    assert incidents(store, element_id="fill") == []
    first, second = incidents(store, limit=2), incidents(store, limit=2, offset=2)
    assert len(first) == 2 and len(second) == 1
    assert first[0].id > first[1].id > second[0].id
    assert incidents(store, instance_id=failed + 1) == []


def test_cancelling_an_instance_in_error_resolves_its_incidents(store, failed):
    as_user(store, "admin", lifecycle.cancel, failed, "not worth fixing")
    assert incidents(store, status="open") == []
    with store.reading() as uow:
        assert uow.session.scalar(text("SELECT count(*) FROM incidents WHERE resolved_at IS NOT NULL")) == 1

"""Routing duties to persons (camunda:assignee, camunda:candidateUsers, camunda:initiator),
end to end on a real database and real sandbox workers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.people import OrgSnapshot
from services.errors import Conflict, InvalidInput, PermissionDenied
from services.identity.access import actor_named
from services.org import org_file
from services.persistence.models import Incident, ProcessInstance, Task, TaskEvent
from services.workflow import definitions, instances, tasks
from tests.conftest import BPMN_DIR
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import import_demo_org


def routed(attrs: str, lane: str | None = "QA", key: str = "routed") -> bytes:
    """start (its initiator is `starter`) -> review (with `attrs`) -> end."""
    body = ['<bpmn:startEvent id="start" camunda:initiator="starter"/>',
            user_task("review", attrs=attrs), '<bpmn:endEvent id="end"/>',
            flow("start", "review"), flow("review", "end")]
    return process("\n".join(body), {lane: ["start", "review", "end"]} if lane else None,
                   process_id=key)


def deploy(store, source: bytes, name: str = "routed.bpmn"):
    return definitions.deploy(store, source, name, "chen.design")


def start(store, started_by: str, data=None, key: str = "routed") -> ProcessInstance:
    with store.writing() as uow:
        row = instances.start_process(uow, key, data, started_by)
        uow.session.expunge(row)
        return row


def open_tasks(store, instance_id: int) -> list[Task]:
    with store.reading() as uow:
        return list(uow.session.scalars(select(Task).where(
            Task.process_instance_id == instance_id, Task.status == "ready")))


def inbox(store, username: str) -> list[str]:
    with store.reading() as uow:
        page = tasks.list_tasks(uow, actor_named(uow, username), tasks.TaskQuery())
        return [task.id for task in page.tasks]


def complete(store, username: str, task_id: str):
    with store.writing() as uow:
        return instances.complete_task(uow, actor_named(uow, username), task_id, {})


def claim(store, username: str, task_id: str):
    with store.writing() as uow:
        return tasks.claim(uow, actor_named(uow, username), task_id)


@pytest.fixture
def org(store):
    import_demo_org(store)
    return store


def test_a_literal_assignee_gets_the_task_and_only_they_may_complete_it(org):
    deploy(org, routed('camunda:assignee="li.qa"'))
    instance = start(org, "zhang.proc")
    [task] = open_tasks(org, instance.id)
    assert (task.assignee, task.department_key, task.claimed_at) == ("li.qa", "qa", None)
    assert task.id in inbox(org, "li.qa") and task.id not in inbox(org, "he.qa")
    with pytest.raises(Conflict, match="li.qa"):
        complete(org, "he.qa", task.id)
    with pytest.raises(Conflict):  # the head hands it on (transfer), he does not do it
        complete(org, "wang.qa", task.id)
    assert complete(org, "li.qa", task.id).status == "completed"


def test_the_starter_expression_assigns_the_person_who_started_and_their_department_owns_it(org):
    deploy(org, routed('camunda:assignee="${starter}"', lane=None))
    instance = start(org, "zhang.proc", {"starter": "liu.gm"})  # start data cannot forge it
    [task] = open_tasks(org, instance.id)
    assert (task.assignee, task.department_key) == ("zhang.proc", "procurement")
    assert instance.data["starter"] == "zhang.proc"
    complete(org, "zhang.proc", task.id)
    with org.reading() as uow:
        event = uow.session.scalars(select(TaskEvent)).one()
    assert (event.completed_by, event.department_key, event.on_behalf_of) == \
        ("zhang.proc", "procurement", None)


def test_manager_of_the_starter_is_their_head_or_for_a_head_the_parent_s_head(org):
    deploy(org, routed('camunda:assignee="${manager_of(starter)}"', lane=None))
    [by_inspector] = open_tasks(org, start(org, "li.qa").id)
    [by_head] = open_tasks(org, start(org, "wang.qa").id)
    assert (by_inspector.assignee, by_inspector.department_key) == ("wang.qa", "qa")
    assert (by_head.assignee, by_head.department_key) == ("sun.prod", "production")


def test_head_of_and_department_of_are_usable_in_expressions(org):
    deploy(org, routed('camunda:assignee="${head_of(department_of(starter))}"'))
    [task] = open_tasks(org, start(org, "he.qa").id)
    assert task.assignee == "wang.qa"


def test_candidate_users_may_claim_and_the_rest_of_the_department_may_not(org):
    deploy(org, routed('camunda:candidateUsers="li.qa, he.qa"'))
    [task] = open_tasks(org, start(org, "zhang.proc").id)
    assert (task.assignee, task.candidate_users) == (None, ["li.qa", "he.qa"])
    assert task.id in inbox(org, "li.qa") and task.id in inbox(org, "he.qa")
    assert task.id not in inbox(org, "wang.qa")
    with pytest.raises(PermissionDenied, match="offered to li.qa, he.qa only"):
        claim(org, "wang.qa", task.id)
    with pytest.raises(PermissionDenied):
        complete(org, "wang.qa", task.id)
    assert claim(org, "he.qa", task.id).assignee == "he.qa"
    assert task.id not in inbox(org, "li.qa")
    complete(org, "he.qa", task.id)


def test_candidate_users_from_an_expression_giving_a_list(org):
    deploy(org, routed('camunda:candidateUsers="${[head_of(\'qa\'), reviewer]}"'))
    [task] = open_tasks(org, start(org, "zhang.proc", {"reviewer": "li.qa"}).id)
    assert task.candidate_users == ["wang.qa", "li.qa"]
    assert task.id in inbox(org, "wang.qa") and task.id not in inbox(org, "he.qa")


def test_deploy_refuses_an_unknown_user_and_a_non_member_with_file_line_and_element(org):
    source = routed('camunda:assignee="ghost"') .replace(
        b"</bpmn:process>", user_task("other", attrs='camunda:candidateGroups="质量部" '
                                      'camunda:candidateUsers="li.qa, zhang.proc"'
                                      ).encode() + b"</bpmn:process>")
    with pytest.raises(InvalidInput) as caught:
        deploy(org, source)
    problems = {(error["element_id"], error["message"]) for error in caught.value.errors}
    assert ("review", "assignee: 'ghost' is not an active person in the org") in problems
    assert any(element == "other" and "'zhang.proc' belongs to department 'procurement'"
               in message for element, message in problems)
    assert all(error["file"] == "routed.bpmn" and error["line"] for error in caught.value.errors)


@pytest.mark.parametrize("attrs, message", [
    ('camunda:assignee="a, b"', "assignee 'a, b' must be a username"),
    ('camunda:assignee="x${y}"', "must be a username"),
    ('camunda:assignee="${__import__(\'os\')}"', "name '__import__' is not allowed"),
    ('camunda:candidateUsers=" , "', "candidateUsers ',' must be a comma list of usernames"),
])
def test_deploy_checks_the_form_of_person_attributes(org, attrs, message):
    with pytest.raises(InvalidInput) as caught:
        deploy(org, routed(attrs))
    assert any(message in error["message"] for error in caught.value.errors), caught.value.errors


def test_an_expression_naming_a_non_member_puts_the_instance_in_error_with_an_incident(org):
    deploy(org, routed('camunda:assignee="${reviewer}"'))
    instance = start(org, "zhang.proc", {"reviewer": "zhang.proc"})
    assert instance.status == "error"
    assert "review: assignee 'zhang.proc' belongs to department 'procurement'" in instance.error
    assert open_tasks(org, instance.id) == []  # never a task nobody can do
    with org.reading() as uow:
        [incident] = uow.session.scalars(select(Incident)).all()
    assert (incident.element_id, incident.kind) == ("review", "error")
    assert "does not own this task (owners: qa)" in incident.message


def test_an_expression_naming_nobody_known_puts_the_instance_in_error(org):
    deploy(org, routed('camunda:candidateUsers="${[reviewer]}"'))
    instance = start(org, "zhang.proc", {"reviewer": "ghost"})
    assert instance.status == "error"
    assert "candidate user 'ghost' is not an active person in the org" in instance.error


def test_a_failing_assignee_expression_is_an_error_not_a_crash(org):
    deploy(org, routed('camunda:assignee="${missing_variable}"'))
    instance = start(org, "zhang.proc")
    assert instance.status == "error" and "missing_variable" in instance.error


def test_a_reimported_org_reaches_the_sandbox_workers_at_once(org):
    deploy(org, routed('camunda:assignee="${manager_of(starter)}"'))
    [before] = open_tasks(org, start(org, "li.qa").id)
    text = (BPMN_DIR / "demo_org.yaml").read_text("utf-8").replace("head: wang.qa", "head: he.qa")
    with org.writing() as uow:
        org_file.import_org(uow, text, "demo_org.yaml", "cli:tester")
    [after] = open_tasks(org, start(org, "li.qa").id)
    assert (before.assignee, after.assignee) == ("wang.qa", "he.qa")


def test_the_org_snapshot_answers_the_org_functions():
    org = OrgSnapshot("r1", {"a": "qa", "h": "qa", "p": "prod"},
                      {"qa": ("prod", "h"), "prod": (None, "p")}, {"QA": "qa", "质量部": "qa"})
    assert (org.head_of("qa"), org.manager_of("a"), org.manager_of("h")) == ("h", "h", "p")
    assert (org.manager_of("p"), org.department_of("nobody"), org.head_of(5)) == (None, None, None)
    assert org.membership_problem("a", ("质量部",)) is None
    assert "does not own" in org.membership_problem("p", ("QA",))
    assert OrgSnapshot.from_json(org.to_json()) == org

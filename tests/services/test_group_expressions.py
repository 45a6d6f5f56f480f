"""Candidate groups given by an expression (`camunda:candidateGroups="${approverGroups}"`,
Zeebe's `assignmentDefinition`), resolved when the task becomes ready, end to end on a real
database and real sandbox workers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.errors import InvalidInput, NotFound
from services.persistence.models import Incident, Task
from tests.services.test_people_routing import (complete, deploy, inbox, open_tasks, routed,
                                                start)
from tests.services.helpers import import_demo_org

ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


@pytest.fixture
def org(store):
    import_demo_org(store)
    return store


def zeebe_routed(assignment: str) -> bytes:
    """start -> review (a Camunda 8 user task with `assignment`) -> end, no lanes."""
    source = routed("", lane=None).decode()
    source = source.replace('<bpmn:definitions ', f"<bpmn:definitions {ZEEBE} ", 1)
    source = source.replace('<bpmn:userTask id="review" name="review" >',
                            '<bpmn:userTask id="review" name="review"><bpmn:extensionElements>'
                            f'<zeebe:assignmentDefinition {assignment}/>'
                            '</bpmn:extensionElements>')
    return source.encode()


def test_groups_from_process_data_own_the_task_like_literal_groups(org):
    deploy(org, routed('camunda:candidateGroups="${approverGroups}"', lane=None))
    instance = start(org, "zhang.proc", {"approverGroups": ["Legal", "sales"]})
    [task] = open_tasks(org, instance.id)
    assert (task.department_key, sorted(task.candidate_departments)) == ("legal",
                                                                          ["legal", "sales"])
    # Listed like a duty of literal groups: under the first group's department.
    assert task.id in inbox(org, "feng.legal") and task.id not in inbox(org, "li.qa")
    with pytest.raises(NotFound):  # not theirs to see, as for a literal group
        complete(org, "li.qa", task.id)
    assert complete(org, "xu.sales", task.id).status == "completed"


def test_a_group_expression_adds_owners_to_the_lane(org):
    deploy(org, routed('camunda:candidateGroups="${extra}"'))
    [task] = open_tasks(org, start(org, "li.qa", {"extra": "Legal"}).id)
    assert (task.department_key, sorted(task.candidate_departments)) == ("qa", ["legal"])
    assert task.id in inbox(org, "li.qa")
    assert complete(org, "feng.legal", task.id).status == "completed"


def test_a_group_naming_no_department_is_an_incident_with_a_clear_message(org):
    deploy(org, routed('camunda:candidateGroups="${approverGroups}"', lane=None))
    instance = start(org, "zhang.proc", {"approverGroups": ["sales", "accounting"]})
    assert instance.status == "error" and open_tasks(org, instance.id) == []
    with org.reading() as uow:
        [incident] = uow.session.scalars(select(Incident)).all()
    assert incident.element_id == "review"
    assert "candidateGroups '${approverGroups}' gave 'accounting', which names no department" \
        in incident.message


@pytest.mark.parametrize("value", [[], 5, [1, 2]])
def test_a_group_expression_giving_no_group_names_for_a_task_without_a_lane_is_an_incident(
        org, value):
    deploy(org, routed('camunda:candidateGroups="${approverGroups}"', lane=None))
    instance = start(org, "zhang.proc", {"approverGroups": value})
    assert instance.status == "error" and "candidateGroups" in instance.error


def test_no_group_from_the_expression_leaves_the_task_to_its_lane(org):
    deploy(org, routed('camunda:candidateGroups="${approverGroups}"'))
    [task] = open_tasks(org, start(org, "li.qa", {"approverGroups": []}).id)
    assert (task.department_key, task.candidate_departments) == ("qa", [])


def test_juel_and_feel_group_expressions(org):
    deploy(org, routed('camunda:candidateGroups="#{big ? \'Legal\' : \'sales\'}"', lane=None))
    [task] = open_tasks(org, start(org, "zhang.proc", {"big": True}).id)
    assert task.department_key == "legal"
    deploy(org, zeebe_routed('candidateGroups="=if big then [&quot;Legal&quot;] else '
                             '[&quot;sales&quot;, &quot;hr&quot;]"'))
    [task] = open_tasks(org, start(org, "zhang.proc", {"big": False}).id)
    assert sorted(task.candidate_departments) == ["hr", "sales"]


def test_zeebe_assignment_literal_groups_and_feel_assignee(org):
    deploy(org, zeebe_routed('candidateGroups="QA, legal" assignee="=reviewer"'))
    [task] = open_tasks(org, start(org, "zhang.proc", {"reviewer": "li.qa"}).id)
    assert (task.assignee, task.department_key) == ("li.qa", "legal")
    assert sorted(task.candidate_departments) == ["legal", "qa"]


def test_a_person_named_with_a_group_expression_must_belong_to_a_group_it_gave(org):
    deploy(org, routed('camunda:candidateGroups="${groups}" camunda:assignee="${reviewer}"',
                       lane=None))
    [task] = open_tasks(org, start(org, "zhang.proc", {"groups": ["QA"],
                                                         "reviewer": "li.qa"}).id)
    assert (task.assignee, task.department_key) == ("li.qa", "qa")
    instance = start(org, "zhang.proc", {"groups": ["Legal"], "reviewer": "li.qa"})
    assert instance.status == "error" and "does not own this task" in instance.error


@pytest.mark.parametrize("attrs, message", [
    ('camunda:candidateGroups="${approverGroups +}"', "candidateGroups '${approverGroups +}'"),
    ('camunda:candidateGroups="#{a &amp;&amp;}"', "(juel): line 1, column"),
    ('camunda:candidateGroups="${__import__(\'os\')}"', "name '__import__' is not allowed"),
    ('camunda:candidateGroups="QA, ${x}"', "must name a department, not an expression"),
])
def test_deploy_checks_that_group_expressions_parse(org, attrs, message):
    with pytest.raises(InvalidInput) as caught:
        deploy(org, routed(attrs, lane=None))
    assert any(message in error["message"] and error["element_id"] == "review"
               and error["line"] for error in caught.value.errors), caught.value.errors


def test_the_task_rows_keep_the_departments_the_groups_gave(org):
    deploy(org, routed('camunda:candidateGroups="${approverGroups}"', lane=None))
    instance = start(org, "zhang.proc", {"approverGroups": "hr, Legal"})
    with org.reading() as uow:
        [task] = uow.session.scalars(select(Task).where(
            Task.process_instance_id == instance.id)).all()
    assert sorted(task.candidate_departments) == ["hr", "legal"]


def test_a_reimported_org_keeps_the_departments_the_groups_gave(org):
    from services.org import org_file
    from tests.conftest import BPMN_DIR
    deploy(org, routed('camunda:candidateGroups="${approverGroups}"', lane=None))
    instance = start(org, "zhang.proc", {"approverGroups": ["Legal", "sales"]})
    text = (BPMN_DIR / "demo_org.yaml").read_text("utf-8").replace("head: wang.qa",
                                                                   "head: he.qa")
    with org.writing() as uow:
        org_file.import_org(uow, text, "demo_org.yaml", "cli:tester")
    [task] = open_tasks(org, instance.id)
    assert (task.department_key, sorted(task.candidate_departments)) == ("legal",
                                                                          ["legal", "sales"])

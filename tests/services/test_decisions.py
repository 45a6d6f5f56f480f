"""DMN decisions deployed with their diagram: one deployment of several files, versions that
include the decisions, business rule tasks deciding in the sandbox workers and routing a
gateway, and deploy-time refusals. SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.errors import InvalidInput
from services.persistence.models import Incident, Task
from services.workflow import definitions, instances
from tests.engine.bpmn_builder import decision_table
from tests.engine.test_decisions import APPROVAL, routed_by_decision
from tests.services.helpers import import_demo_org

ROUTED = routed_by_decision('camunda:decisionRef="approval" camunda:resultVariable="approver" '
                            'camunda:mapDecisionResult="singleEntry"').replace(
    b'id="proc"', b'id="decided"')
FILES = [("routed.bpmn", ROUTED), ("approval.dmn", APPROVAL)]


@pytest.fixture
def org(store):
    import_demo_org(store)
    return store


def deploy(store, files=FILES):
    return definitions.deploy_files(store, files, "chen.design")


def start(store, data: dict):
    with store.writing() as uow:
        row = instances.start_process(uow, "decided", data, "zhang.proc")
        uow.session.expunge(row)
    with store.reading() as uow:
        ready = [task.element_id for task in uow.session.scalars(select(Task).where(
            Task.process_instance_id == row.id, Task.status == "ready"))]
    return row, ready


def test_a_business_rule_task_decides_in_the_sandbox_and_the_gateway_routes_on_it(org):
    [deployed] = deploy(org)
    assert deployed.created and [d.id for d in deployed.decisions] == ["approval"]
    assert deployed.definition.decision_files() == (("approval.dmn", APPROVAL.decode()),)
    large, ready = start(org, {"amount": 5000})
    assert (large.status, large.data["approver"], ready) == ("running", "director", ["director"])
    small, ready = start(org, {"amount": 20})
    assert (small.data["approver"], ready) == ("team lead", ["lead"])


def test_the_decisions_are_part_of_the_version(org):
    [first] = deploy(org)
    [again] = deploy(org, list(reversed(FILES)))
    assert not again.created and again.definition.version == first.definition.version
    changed = APPROVAL.replace(b"&gt; 1000", b"&gt; 10000").replace(b"&lt;= 1000", b"&lt;= 10000")
    [second] = deploy(org, [("routed.bpmn", ROUTED), ("approval.dmn", changed)])
    assert second.created and second.definition.version == first.definition.version + 1
    row, ready = start(org, {"amount": 5000})  # the latest version decides with the new table
    assert (row.process_version, row.data["approver"], ready) == (2, "team lead", ["lead"])


def test_a_decision_that_fails_puts_the_instance_in_error_with_an_incident(org):
    clash = decision_table("approval", ["amount"], ["approver"], [
        (["> 10"], ['"a"']), (["> 100"], ['"b"'])])
    deploy(org, [("routed.bpmn", ROUTED), ("approval.dmn", clash)])
    row, ready = start(org, {"amount": 500})
    assert row.status == "error" and ready == []
    assert "hit policy is UNIQUE" in row.error


def test_a_decision_not_in_the_deployment_is_a_warning_then_an_incident_when_none_is_deployed(
        org):
    [deployed] = deploy(org, [("routed.bpmn", ROUTED)])
    [warning] = deployed.warnings
    assert (warning.file, warning.element_id) == ("routed.bpmn", "decide") and warning.line
    assert "decision 'approval' is not in the deployment" in warning.message
    row, ready = start(org, {"amount": 5000})
    assert row.status == "error" and ready == []
    with org.reading() as uow:
        [incident] = uow.session.scalars(select(Incident)).all()
    assert incident.element_id == "decide"
    assert "decision 'approval' is not deployed" in incident.message


def test_a_decision_the_deployment_lacks_is_the_latest_deployed_one_when_the_task_runs(org):
    deploy(org, [("routed.bpmn", ROUTED)])
    other = ROUTED.replace(b'id="decided"', b'id="elsewhere"')
    deploy(org, [("other.bpmn", other), ("approval.dmn", APPROVAL)])
    row, ready = start(org, {"amount": 5000})
    assert (row.status, row.data["approver"], ready) == ("running", "director", ["director"])
    # A newer table deployed anywhere decides from then on.
    changed = APPROVAL.replace(b"&gt; 1000", b"&gt; 10000").replace(b"&lt;= 1000",
                                                                     b"&lt;= 10000")
    deploy(org, [("other.bpmn", other), ("approval.dmn", changed)])
    row, ready = start(org, {"amount": 5000})
    assert (row.data["approver"], ready) == ("team lead", ["lead"])


def test_the_deployment_binding_refuses_a_decision_not_deployed_with_the_diagram(org):
    bound = ROUTED.replace(b'camunda:decisionRef="approval"',
                           b'camunda:decisionRef="approval" camunda:decisionRefBinding="deployment"')
    with pytest.raises(InvalidInput) as refused:
        deploy(org, [("routed.bpmn", bound)])
    [problem] = refused.value.errors
    assert (problem["file"], problem["element_id"]) == ("routed.bpmn", "decide")
    assert problem["line"] and "decision 'approval' is not in the deployment" in problem["message"]


def test_a_broken_dmn_file_is_refused_with_its_own_lines(org):
    broken = APPROVAL.replace(b"&lt;= 1000", b"&lt;= [1000")
    with pytest.raises(InvalidInput) as refused:
        deploy(org, [("routed.bpmn", ROUTED), ("approval.dmn", broken)])
    [problem] = refused.value.errors
    assert (problem["file"], problem["element_id"]) == ("approval.dmn", "inputEntry_1_0")
    assert "approval.dmn" in str(refused.value)


@pytest.mark.parametrize("files,message", [
    ([("approval.dmn", APPROVAL)], "a deployment needs a BPMN diagram"),
    ([("routed.bpmn", ROUTED), ("routed.bpmn", ROUTED)], "each file of a deployment needs its "
                                                          "own name"),
    ([("routed.bpmn", ROUTED), ("again.bpmn", ROUTED), ("approval.dmn", APPROVAL)],
     "process 'decided' is in two files of the deployment"),
])
def test_deployments_that_cannot_be_versioned_are_refused(org, files, message):
    with pytest.raises(InvalidInput, match=message):
        deploy(org, files)

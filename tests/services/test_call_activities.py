"""Call activities into processes deployed from other files: child instances started by the
call, their variables crossing by in/out mappings, their end running the caller on
(SQLite and PostgreSQL; every step in a sandbox worker)."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from services.identity.access import actor_named
from services.persistence.models import Incident, InstanceAction, ProcessInstance, Task
from services.workflow import calls, definitions, instances, lifecycle, repair
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import complete, deploy, import_demo_org, ready_task

INTEROP = Path(__file__).resolve().parents[2].parent / "shared" / "interop"
ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


def caller(extensions: str = "", attrs: str = "", key: str = "order") -> bytes:
    """start -> prepare (Sales) -> call reviewer -> wrap up (Sales) -> end."""
    body = ['<bpmn:startEvent id="start"/>', user_task("prepare"),
            f'<bpmn:callActivity id="call" name="Review" calledElement="reviewer" {attrs}>'
            f"<bpmn:extensionElements>{extensions}</bpmn:extensionElements></bpmn:callActivity>",
            user_task("wrap_up"), '<bpmn:endEvent id="end"/>']
    nodes = ["start", "prepare", "call", "wrap_up", "end"]
    body += [flow(a, b) for a, b in zip(nodes, nodes[1:])]
    return process("\n".join(body), {"Sales": nodes}, process_id=key)


def reviewer(script: str = "verdict = 'ok'", lane: str = "Legal") -> bytes:
    """start -> review (Legal) -> script -> end."""
    body = ['<bpmn:startEvent id="start"/>', user_task("review"),
            f'<bpmn:scriptTask id="decide" scriptFormat="python"><bpmn:script>{script}'
            "</bpmn:script></bpmn:scriptTask>", '<bpmn:endEvent id="end"/>']
    nodes = ["start", "review", "decide", "end"]
    body += [flow(a, b) for a, b in zip(nodes, nodes[1:])]
    return process("\n".join(body), {lane: nodes}, process_id="reviewer")


def start(store, key="order", data=None, business_key=None) -> int:
    with store.writing() as uow:
        return instances.start_process(uow, key, data, "huang.sales", business_key).id


def row(store, instance_id: int) -> ProcessInstance:
    with store.reading() as uow:
        return uow.session.get(ProcessInstance, instance_id)


def children(store, instance_id: int) -> list[ProcessInstance]:
    with store.reading() as uow:
        return calls.children_of(uow, instance_id)


def as_user(store, username, use_case, *args, **kwargs):
    with store.writing() as uow:
        return use_case(uow, actor_named(uow, username), *args, **kwargs)


@pytest.fixture
def org(store):
    import_demo_org(store)
    return store


def test_the_call_starts_a_child_whose_lane_routes_its_task_and_whose_end_runs_the_caller_on(org):
    store = org
    deploy(store, "order.bpmn", caller('<camunda:in source="amount" target="sum"/>'
                                       '<camunda:out source="verdict" target="review_verdict"/>'))
    deploy(store, "reviewer.bpmn", reviewer())
    parent = start(store, data={"amount": 120, "secret": "s"}, business_key="PO-7")
    complete(store, parent, "prepare", "huang.sales", {})
    [child] = children(store, parent)
    assert (child.process_key, child.parent_instance_id, child.parent_element_id) == \
        ("reviewer", parent, "call")
    assert child.data == {"sum": 120}  # only what camunda:in maps crosses
    assert ready_task(store, child.id, "review").department_key == "legal"
    assert row(store, parent).status == "running"
    complete(store, child.id, "review", "feng.legal", {})
    assert row(store, child.id).status == "completed"
    caller_row = row(store, parent)
    assert caller_row.data["review_verdict"] == "ok" and "sum" not in caller_row.data
    assert ready_task(store, parent, "wrap_up").department_key == "sales"


def test_variables_all_cross_both_ways_and_the_business_key_is_inherited(org):
    store = org
    deploy(store, "order.bpmn", caller('<camunda:in variables="all"/>'
                                       '<camunda:in businessKey="#{execution.processBusinessKey}"/>'
                                       '<camunda:in sourceExpression="${amount * 2}" target="double"/>'
                                       '<camunda:out variables="all"/>'))
    deploy(store, "reviewer.bpmn", reviewer("verdict = 'ok' if double > 100 else 'no'"))
    parent = start(store, data={"amount": 60}, business_key="PO-8")
    complete(store, parent, "prepare", "huang.sales", {})
    [child] = children(store, parent)
    assert child.business_key == "PO-8"
    assert child.data == {"amount": 60, "double": 120}
    complete(store, child.id, "review", "feng.legal", {})
    assert row(store, parent).data.items() >= {"amount": 60, "double": 120,
                                               "verdict": "ok"}.items()


def test_latest_binding_calls_a_version_deployed_after_the_caller_and_deployment_binding_does_not(
        org):
    store = org
    definitions.deploy_files(store, [("latest.bpmn", caller(key="latest_order")),
                                     ("pinned.bpmn", caller(
                                         attrs='camunda:calledElementBinding="deployment"',
                                         key="pinned_order")),
                                     ("reviewer.bpmn", reviewer())], "chen.design")
    deploy(store, "reviewer.bpmn", reviewer("verdict = 'v2'"))
    for key, version in (("latest_order", 2), ("pinned_order", 1)):
        parent = start(store, key)
        complete(store, parent, "prepare", "huang.sales", {})
        [child] = children(store, parent)
        assert (key, child.process_version) == (key, version)


def test_version_binding_calls_the_numbered_version(org):
    store = org
    deploy(store, "reviewer.bpmn", reviewer())
    deploy(store, "reviewer.bpmn", reviewer("verdict = 'v2'"))
    deploy(store, "order.bpmn", caller(attrs='camunda:calledElementBinding="version" '
                                             'camunda:calledElementVersion="1"'))
    parent = start(store)
    complete(store, parent, "prepare", "huang.sales", {})
    assert [child.process_version for child in children(store, parent)] == [1]


def test_a_call_with_nothing_deployed_is_a_deploy_warning_then_an_incident_retried_after_deploy(org):
    store = org
    [result] = deploy(store, "order.bpmn", caller())
    [warning] = result.warnings
    assert (warning.file, warning.element_id) == ("order.bpmn", "call")
    assert "'reviewer'" in warning.message and "not deployed" in warning.message
    parent = start(store)
    complete(store, parent, "prepare", "huang.sales", {})
    assert row(store, parent).status == "error" and children(store, parent) == []
    with store.reading() as uow:
        [incident] = uow.session.scalars(select(Incident).where(
            Incident.process_instance_id == parent)).all()
    assert incident.element_id == "call" and "'reviewer'" in incident.message
    deploy(store, "reviewer.bpmn", reviewer())
    assert as_user(store, "admin", repair.retry, parent, "reviewer is deployed now").status \
        == "running"
    [child] = children(store, parent)
    complete(store, child.id, "review", "feng.legal", {})
    assert ready_task(store, parent, "wrap_up") is not None


def test_lint_strict_refuses_a_call_into_a_process_not_known(org):
    assert definitions.lint(caller(), "order.bpmn", None) == []
    [problem] = definitions.lint(caller(), "order.bpmn", None, strict=True)
    assert problem.element_id == "call"
    assert definitions.lint(caller(), "order.bpmn", None, strict=True,
                            known_processes={"reviewer"}) == []


def test_cancelling_the_caller_cancels_its_child(org):
    store = org
    deploy(store, "reviewer.bpmn", reviewer())
    deploy(store, "order.bpmn", caller())
    parent = start(store)
    complete(store, parent, "prepare", "huang.sales", {})
    [child] = children(store, parent)
    as_user(store, "admin", lifecycle.cancel, parent, "customer withdrew")
    assert row(store, child.id).status == "cancelled"
    assert ready_task_status(store, child.id, "review") == "withdrawn"
    with store.reading() as uow:
        action = uow.session.scalars(select(InstanceAction).where(
            InstanceAction.process_instance_id == child.id)).one()
    assert action.kind == "cancel" and action.actor == "admin"


def test_cancelling_a_child_puts_its_caller_in_error_and_a_retry_calls_again(org):
    store = org
    deploy(store, "reviewer.bpmn", reviewer())
    deploy(store, "order.bpmn", caller())
    parent = start(store)
    complete(store, parent, "prepare", "huang.sales", {})
    [child] = children(store, parent)
    as_user(store, "admin", lifecycle.cancel, child.id, "wrong reviewer")
    assert row(store, parent).status == "error"
    assert "was cancelled" in row(store, parent).error
    as_user(store, "admin", repair.retry, parent, "call again")
    assert [one.status for one in children(store, parent)] == ["cancelled", "running"]


def test_an_error_end_event_in_the_child_is_caught_by_the_call_activity_boundary_event(org):
    store = org
    child_body = ['<bpmn:error id="rejected" errorCode="REJECTED"/>']
    child_process = process("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("review"),
        '<bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="rejected"/>'
        "</bpmn:endEvent>", flow("start", "review"), flow("review", "fail")]),
        {"Legal": ["start", "review", "fail"]}, process_id="reviewer")
    child_process = child_process.replace(b"</bpmn:definitions>",
                                          child_body[0].encode() + b"</bpmn:definitions>")
    deploy(store, "reviewer.bpmn", child_process)
    body = ['<bpmn:startEvent id="start"/>',
            '<bpmn:callActivity id="call" calledElement="reviewer"/>',
            '<bpmn:boundaryEvent id="caught" attachedToRef="call">'
            '<bpmn:errorEventDefinition errorRef="rejected"/></bpmn:boundaryEvent>',
            user_task("rework"), user_task("wrap_up"), '<bpmn:endEvent id="end"/>',
            '<bpmn:endEvent id="end2"/>', flow("start", "call"), flow("call", "wrap_up"),
            flow("wrap_up", "end"), flow("caught", "rework"), flow("rework", "end2")]
    parent_process = process("\n".join(body), {"Sales": ["start", "call", "caught", "rework",
                                                         "wrap_up", "end", "end2"]},
                             process_id="order").replace(
        b"</bpmn:definitions>", child_body[0].encode() + b"</bpmn:definitions>")
    deploy(store, "order.bpmn", parent_process)
    parent = start(store)
    [child] = children(store, parent)
    complete(store, child.id, "review", "feng.legal", {})
    assert ready_task(store, parent, "rework") is not None


def test_zeebe_multi_instance_call_starts_one_child_per_item_and_collects_their_results(org):
    store = org
    deploy(store, "reviewer.bpmn", reviewer("verdict = 'ok:' + doc"))
    extensions = ('<zeebe:calledElement processId="reviewer" propagateAllChildVariables="false"/>'
                  '<zeebe:ioMapping><zeebe:input source="= item" target="doc"/>'
                  '<zeebe:output source="= verdict" target="result"/></zeebe:ioMapping>')
    loop = ('<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
            '<zeebe:loopCharacteristics inputCollection="= items" inputElement="item" '
            'outputCollection="results" outputElement="= result"/>'
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>")
    body = ['<bpmn:startEvent id="start"/>',
            f'<bpmn:callActivity id="call"><bpmn:extensionElements>{extensions}'
            f"</bpmn:extensionElements>{loop}</bpmn:callActivity>",
            user_task("wrap_up"), '<bpmn:endEvent id="end"/>',
            flow("start", "call"), flow("call", "wrap_up"), flow("wrap_up", "end")]
    source = process("\n".join(body), {"Sales": ["start", "call", "wrap_up", "end"]},
                     process_id="order").replace(b'id="defs"', f'{ZEEBE} id="defs"'.encode())
    deploy(store, "order.bpmn", source)
    parent = start(store, data={"items": ["a", "b", "c"]})
    kids = children(store, parent)
    assert sorted(kid.data["doc"] for kid in kids) == ["a", "b", "c"]
    # Camunda 8 copies the caller's variables in unless told otherwise.
    assert all(kid.data["items"] == ["a", "b", "c"] for kid in kids)
    for kid in reversed(kids):
        complete(store, kid.id, "review", "feng.legal", {})
    parent_row = row(store, parent)
    assert parent_row.data["results"] == ["ok:a", "ok:b", "ok:c"]
    assert "verdict" not in parent_row.data  # propagateAllChildVariables="false"
    assert ready_task(store, parent, "wrap_up") is not None


def test_the_camunda_invoice_review_is_called_from_invoice_v2_by_process_key(org):
    """The loader accepts invoice.v2's call activity into reviewInvoice.bpmn (another
    file): it becomes a call whose child is resolved when it happens."""
    invoice = INTEROP / "camunda-invoice"
    if not invoice.exists():
        pytest.skip("../shared/interop is not beside the checkout")
    from engine.loader import load_processes
    [review] = load_processes((invoice / "reviewInvoice.bpmn").read_bytes(), "reviewInvoice.bpmn",
                              default_owner="legal")
    source = (invoice / "invoice.v2.bpmn").read_bytes()
    calls_found = [call for model in _loaded_or_skip(load_processes, source)
                   for call in model.calls.values()]
    assert [(call.called, call.binding) for call in calls_found] == [(review.key, "latest")]


def _loaded_or_skip(load, source):
    from engine.errors import BpmnValidationError
    try:
        return load(source, "invoice.v2.bpmn", default_owner="legal")
    except BpmnValidationError as err:
        # Other constructs of invoice.v2 (candidate groups by expression, its DMN) are
        # someone else's part; the call activity must not be among its problems.
        assert not [problem for problem in err.problems if "reviewInvoice" in problem.message
                    or problem.element_id == "reviewInvoice"], err.problems
        pytest.skip("invoice.v2 has other constructs not accepted yet: " + str(err.problems[0]))


def ready_task_status(store, instance_id: int, element_id: str) -> str:
    with store.reading() as uow:
        return uow.session.scalars(select(Task.status).where(
            Task.process_instance_id == instance_id, Task.element_id == element_id)).one()


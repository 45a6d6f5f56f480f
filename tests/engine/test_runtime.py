"""Running instances in memory: paths, forms, timers, errors, serialization, long loops."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from engine.errors import FormValidationError, TaskNotReady
from engine import runtime
from engine.loader import load_processes
from engine.runtime import COMPLETED, ERROR, RUNNING, Instance
from tests.conftest import read_bpmn
from tests.engine.bpmn_builder import flow, process, user_task


@pytest.fixture(scope="module")
def inbound():
    [model] = load_processes(read_bpmn("inbound_materials.bpmn"), "inbound_materials.bpmn")
    return model


def roundtrip(instance: Instance) -> Instance:
    """What the services do between requests: JSON out, JSON in."""
    return Instance.restore(instance.model, json.loads(json.dumps(instance.dump())))


def complete(instance: Instance, element_id: str, data: dict) -> Instance:
    [task] = [task for task in instance.ready_tasks() if task.element_id == element_id]
    instance.complete(task.id, data)
    return roundtrip(instance)


def ready(instance: Instance) -> list[str]:
    return sorted(task.element_id for task in instance.ready_tasks())


DELIVERY = {"supplier": "华东钢铁", "material": "steel", "quantity": 10}
PASS = {"result": "pass", "defects": 0}
FAIL = {"result": "fail", "defects": 3, "notes": "rust"}


def test_pass_path(inbound):
    instance = roundtrip(Instance.start(inbound))
    assert ready(instance) == ["register_delivery"]
    instance = complete(instance, "register_delivery", DELIVERY)
    assert ready(instance) == ["inspect_goods"]
    instance = complete(instance, "inspect_goods", PASS)
    assert ready(instance) == ["warehouse_intake"]
    assert instance.data["supplier"] == "华东钢铁"
    instance = complete(instance, "warehouse_intake", {"storage_location": "A-1",
                                                       "received_quantity": 10})
    assert instance.status == COMPLETED and ready(instance) == []


def test_fail_path_loops_back_to_inspection(inbound):
    instance = complete(Instance.start(inbound), "register_delivery", DELIVERY)
    instance = complete(instance, "inspect_goods", FAIL)
    assert ready(instance) == ["return_goods"]
    instance = complete(instance, "return_goods", {"return_reference": "RMA-1"})
    instance = complete(instance, "receive_redelivery", {"redelivery_note": "second lot"})
    assert ready(instance) == ["inspect_goods"]
    assert instance.status == RUNNING


def test_form_validation_is_per_field_and_changes_nothing(inbound):
    instance = complete(Instance.start(inbound), "register_delivery", DELIVERY)
    [task] = instance.ready_tasks()
    before = instance.dump()
    with pytest.raises(FormValidationError) as caught:
        instance.complete(task.id, {"result": "maybe", "defects": -1, "extra": 1})
    assert set(caught.value.errors) == {"result", "defects", "extra"}
    with pytest.raises(FormValidationError) as caught:
        instance.complete(task.id, {})
    assert set(caught.value.errors) == {"result", "defects"}
    assert instance.dump() == before


def test_types_are_strict(inbound):
    instance = Instance.start(inbound)
    [task] = instance.ready_tasks()
    with pytest.raises(FormValidationError) as caught:
        instance.complete(task.id, {"supplier": "x", "material": "y", "quantity": "10"})
    assert "quantity" in caught.value.errors


def test_a_task_cannot_be_completed_twice_or_skipped(inbound):
    instance = Instance.start(inbound)
    [register] = instance.ready_tasks()
    stale = roundtrip(instance)
    instance.complete(register.id, DELIVERY)
    with pytest.raises(TaskNotReady):
        instance.complete(register.id, DELIVERY)
    with pytest.raises(TaskNotReady):
        instance.complete("00000000-0000-0000-0000-000000000000", PASS)
    # The warehouse step of this instance is not reachable before inspection.
    assert "warehouse_intake" not in ready(instance)
    assert ready(stale) == ["register_delivery"]  # an old copy knows nothing of the change


def test_boundary_timer_is_pending_and_fires(inbound):
    instance = complete(Instance.start(inbound), "register_delivery", DELIVERY)
    [timer] = instance.pending_timers()
    assert timer.element_id == "sample_overdue"
    now = dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=1, minutes=59) < timer.due_at - now <= dt.timedelta(hours=2)
    instance.fire_timer(timer.id)
    instance = roundtrip(instance)
    assert ready(instance) == ["alert_supervisor", "inspect_goods"]  # non-interrupting
    assert instance.pending_timers() == []
    with pytest.raises(TaskNotReady):
        instance.fire_timer(timer.id)


def test_a_task_of_no_kind_passes_straight_through_as_in_camunda():
    source = process("\n".join(['<bpmn:startEvent id="start"/>',
                                '<bpmn:task id="get_dressed" name="Get dressed"/>',
                                user_task("review"), '<bpmn:endEvent id="end"/>',
                                flow("start", "get_dressed"), flow("get_dressed", "review"),
                                flow("review", "end")]),
                     {"QA": ["start", "get_dressed", "review", "end"]})
    [model] = load_processes(source, "t.bpmn")
    instance = Instance.start(model, {})
    assert [task.element_id for task in instance.ready_tasks()] == ["review"]


def feel_timer_wait(duration: str) -> bytes:
    """start -> a timer waiting `duration` (a Camunda 8 FEEL expression) -> review -> end."""
    timer = ('<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
             f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{duration}</bpmn:timeDuration>'
             "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")
    return process("\n".join(['<bpmn:startEvent id="start"/>', timer, user_task("review"),
                                '<bpmn:endEvent id="end"/>', flow("start", "wait"),
                                flow("wait", "review"), flow("review", "end")]),
                   {"QA": ["start", "wait", "review", "end"]})


def test_a_feel_timer_reads_the_process_data():
    [model] = load_processes(feel_timer_wait('=duration("PT" + string(minutes) + "M")'),
                             "t.bpmn")
    [timer] = Instance.start(model, {"minutes": 30}).pending_timers()
    assert timer.element_id == "wait"
    now = dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=29) < timer.due_at - now <= dt.timedelta(minutes=30)


def test_a_timer_that_gives_null_puts_the_instance_in_error_at_the_timer():
    [model] = load_processes(feel_timer_wait('=duration("PT" + string(minutes) + "M")'),
                             "t.bpmn")
    instance = Instance.start(model, {})
    assert instance.status == ERROR and instance.error.element_id == "wait"
    assert "gave null" in str(instance.error)


def test_completing_the_guarded_task_cancels_its_timer(inbound):
    instance = complete(Instance.start(inbound), "register_delivery", DELIVERY)
    assert instance.pending_timers()
    instance = complete(instance, "inspect_goods", PASS)
    assert instance.pending_timers() == []


def test_start_form_is_validated():
    [model] = load_processes(read_bpmn("contract_approval.bpmn"), "contract_approval.bpmn")
    with pytest.raises(FormValidationError) as caught:
        Instance.start(model, {"title": "x"})
    assert {"counterparty", "amount"} <= set(caught.value.errors)


def test_contract_script_task_decides():
    [model] = load_processes(read_bpmn("contract_approval.bpmn"), "contract_approval.bpmn")
    start = {"title": "Steel", "counterparty": "ACME", "amount": 100}
    for decision, comply, expected in (("approve", True, "approved"), ("approve", False, "rejected"),
                                       ("reject", True, "rejected")):
        instance = Instance.start(model, start)
        instance = complete(instance, "submit_contract", {"contract_summary": "annual"})
        instance = complete(instance, "legal_review", {"terms_comply": comply,
                                                       "risks_addressed": True,
                                                       "decision": decision})
        assert instance.status == COMPLETED
        assert instance.data["outcome"] == expected


def script_process(script: str) -> bytes:
    body = "\n".join(['<bpmn:startEvent id="start"/>', user_task("first"),
                      f'<bpmn:scriptTask id="calc" scriptFormat="python"><bpmn:script>{script}'
                      "</bpmn:script></bpmn:scriptTask>", user_task("second"),
                      '<bpmn:endEvent id="end"/>', flow("start", "first"), flow("first", "calc"),
                      flow("calc", "second"), flow("second", "end")])
    return process(body, {"QA": ["start", "first", "calc", "second", "end"]})


@pytest.mark.parametrize("script", [
    "x = ().__class__.__base__.__subclasses__()",
    "x = open('/etc/passwd').read()",
    "x = 1 / 0",
])
def test_script_failures_mark_the_instance_without_corrupting_it(script):
    # Valid syntax, so it deploys only if the static check allows it; run it directly.
    body = script_process("x = 1")
    [model] = load_processes(body, "t.bpmn")
    model.spec.task_specs["calc"].script = script  # as if the sandbox's static check were bypassed
    instance = Instance.start(model)
    [first] = instance.ready_tasks()
    instance.complete(first.id, {})
    assert instance.status == ERROR
    assert instance.error.element_id == "calc"
    restored = roundtrip(instance)
    assert restored.status == ERROR
    model.spec.task_specs["calc"].script = "x = 1"


def test_rework_loop_of_1000_passes_stays_shallow_and_working(inbound):
    instance = complete(Instance.start(inbound), "register_delivery", DELIVERY)
    for _ in range(1000):
        instance.complete(instance.ready_tasks()[0].id, FAIL)
        instance.complete(instance.ready_tasks()[0].id, {"return_reference": "RMA"})
        instance.complete(instance.ready_tasks()[0].id, {"redelivery_note": "again"})
    instance = roundtrip(instance)
    assert ready(instance) == ["inspect_goods"]
    depth = max(task.depth for task in instance._workflow.tasks.values())
    assert depth < 80
    assert len(instance._workflow.tasks) < 200
    instance = complete(instance, "inspect_goods", PASS)
    instance = complete(instance, "warehouse_intake", {"storage_location": "B",
                                                       "received_quantity": 1})
    assert instance.status == COMPLETED


def test_state_has_no_embedded_spec(inbound):
    state = Instance.start(inbound).dump()
    assert "spec" not in state["workflow"]
    assert len(json.dumps(state)) < 8000


@pytest.mark.parametrize("order", ["reversed", "sorted"])
def test_task_data_survives_a_state_whose_task_keys_come_back_in_another_order(inbound, order):
    """PostgreSQL's jsonb sorts object keys: task UUIDs return in no tree order, and each
    task's data is stored as a delta from its parent's."""
    instance = Instance.start(inbound)
    [task] = instance.ready_tasks()
    instance.complete(task.id, DELIVERY)
    state = json.loads(json.dumps(instance.dump()))
    tasks = state["workflow"]["tasks"]
    keys = sorted(tasks, reverse=True) if order == "reversed" else sorted(tasks)
    state["workflow"]["tasks"] = {key: tasks[key] for key in keys}
    restored = Instance.restore(inbound, state)
    [inspect] = restored.ready_tasks()
    assert restored.task_data(inspect.id)["supplier"] == "华东钢铁"
    assert restored.data["quantity"] == 10


def test_dates_and_decimals_a_script_stores_survive_the_json_state():
    model = load_processes(process("\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:scriptTask id="stamp" scriptFormat="python"><bpmn:script>'
        "at = datetime(2026, 1, 2, 3, 4)\nday = date(2026, 1, 2)\namount = Decimal('1.50')"
        "</bpmn:script></bpmn:scriptTask>",
        user_task("check"), '<bpmn:endEvent id="end"/>',
        flow("start", "stamp"), flow("stamp", "check"), flow("check", "end")]),
        {"QA": ["start", "stamp", "check", "end"]}), "stamp.bpmn")[0]
    state = json.loads(json.dumps(Instance.start(model).dump()))
    data = Instance.restore(model, state).data
    assert (data["at"], data["day"], data["amount"]) == (
        dt.datetime(2026, 1, 2, 3, 4), dt.date(2026, 1, 2), Decimal("1.50"))


def test_a_loop_that_never_waits_ends_in_error_naming_its_elements():
    model = load_processes(process("\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:exclusiveGateway id="again" default="f_more"/>',
        '<bpmn:scriptTask id="count" scriptFormat="python"><bpmn:script>n = n + 1'
        "</bpmn:script></bpmn:scriptTask>", user_task("never"), '<bpmn:endEvent id="end"/>',
        flow("start", "again"), flow("again", "never", "${n &lt; 0}"),
        flow("again", "count", flow_id="f_more"), flow("count", "again"), flow("never", "end")]),
        {"QA": ["start", "again", "count", "never", "end"]}), "loop.bpmn")[0]
    instance = Instance.start(model, {"n": 0})
    assert instance.status == "error" and instance.ready_tasks() == []
    assert "without reaching a wait state: it loops through again, count" in str(instance.error)
    assert 0 < instance.data["n"] <= runtime.MAX_ENGINE_PASSES


def test_start_data_is_capped_and_held_to_the_start_form():
    plain = load_processes(process("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("check"), '<bpmn:endEvent id="end"/>',
        flow("start", "check"), flow("check", "end")]), {"QA": ["start", "check", "end"]}),
        "plain.bpmn")[0]
    with pytest.raises(FormValidationError, match="the limit is 64000"):
        Instance.start(plain, {"blob": "x" * runtime.MAX_START_DATA_CHARS})
    assert Instance.start(plain, {"note": "短"}).data["note"] == "短"
    formed = load_processes(process("\n".join([
        '<bpmn:startEvent id="start"><bpmn:extensionElements><camunda:formData>'
        '<camunda:formField id="amount" type="long"/></camunda:formData>'
        "</bpmn:extensionElements></bpmn:startEvent>", user_task("check"),
        '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")]),
        {"QA": ["start", "check", "end"]}), "formed.bpmn")[0]
    with pytest.raises(FormValidationError) as refused:
        Instance.start(formed, {"amount": 5, "undeclared": "x"})
    assert "undeclared" in refused.value.errors


def _as_jsonb_orders_it(value):
    """Object keys in PostgreSQL JSONB's order (shorter first, then bytewise)."""
    if isinstance(value, dict):
        return {key: _as_jsonb_orders_it(value[key])
                for key in sorted(value, key=lambda key: (len(key.encode()), key.encode()))}
    if isinstance(value, list):
        return [_as_jsonb_orders_it(item) for item in value]
    return value


@pytest.mark.parametrize("attempt", range(5))
def test_restoring_a_state_whose_task_map_comes_back_in_key_order_keeps_inherited_data(
        inbound, attempt):
    """Tasks store their data as changes to their parent's: restored out of tree order, a
    task lost everything it inherited (its uuid4 ids sort at random against the tree)."""
    instance = Instance.start(inbound, {"note": "keep me"})
    [task] = instance.ready_tasks()
    instance.complete(task.id, DELIVERY)
    state = _as_jsonb_orders_it(json.loads(json.dumps(instance.dump())))
    restored = Instance.restore(inbound, state)
    [inspect] = restored.ready_tasks()
    assert restored.task_data(inspect.id) == instance.task_data(inspect.id)
    assert restored.task_data(inspect.id)["note"] == "keep me"
    assert restored.task_data(inspect.id)["supplier"] == "华东钢铁"


def nested_event_subprocesses() -> bytes:
    """An embedded subprocess with its own event subprocesses: a timer that reminds
    (non-interrupting) and a message that stops the work (interrupting)."""
    esp = ('<bpmn:subProcess id="{id}" triggeredByEvent="true"><bpmn:startEvent id="{id}_start"'
           ' isInterrupting="{interrupting}">{definition}</bpmn:startEvent>{task}'
           '<bpmn:endEvent id="{id}_end"/>' + flow("{id}_start", "{task_id}") +
           flow("{task_id}", "{id}_end") + "</bpmn:subProcess>")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:subProcess id="work_scope"><bpmn:startEvent id="scope_start"/>' + user_task("work")
        + '<bpmn:endEvent id="scope_end"/>' + flow("scope_start", "work") + flow("work", "scope_end")
        + esp.format(id="remind_esp", interrupting="false", task=user_task("remind"),
                     task_id="remind", definition="<bpmn:timerEventDefinition><bpmn:timeDuration>"
                     "PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>")
        + esp.format(id="halt_esp", interrupting="true", task=user_task("halted"),
                     task_id="halted", definition='<bpmn:messageEventDefinition messageRef="m"/>')
        + "</bpmn:subProcess>", user_task("after"), '<bpmn:endEvent id="end"/>',
        flow("start", "work_scope"), flow("work_scope", "after"), flow("after", "end")])
    nodes = ["start", "work_scope", "scope_start", "work", "scope_end", "after", "end"] + [
        f"{esp_id}{suffix}" for esp_id in ("remind_esp", "halt_esp")
        for suffix in ("", "_start", "_end")] + ["remind", "halted"]
    return process(body, {"QA": nodes}).replace(
        b"<bpmn:process", b'<bpmn:message id="m" name="halt"/><bpmn:process', 1)


def test_a_subprocess_completes_while_its_event_subprocess_still_waits_for_its_timer():
    [model] = load_processes(nested_event_subprocesses(), "nested.bpmn")
    instance = Instance.start(model)
    assert [timer.element_id for timer in instance.pending_timers()] == ["remind_esp_start"]
    assert [event.name for event in instance.awaited_events()] == ["halt"]
    instance = complete(roundtrip(instance), "work", {})
    assert [task.element_id for task in instance.ready_tasks()] == ["after"]
    assert instance.pending_timers() == [] and instance.awaited_events() == []
    assert complete(instance, "after", {}).status == COMPLETED


def test_an_interrupting_event_subprocess_cancels_only_its_own_scope():
    [model] = load_processes(nested_event_subprocesses(), "nested.bpmn")
    instance = Instance.start(model)
    instance.catch("message", "halt", {"reason": "recall"})
    assert [task.element_id for task in instance.ready_tasks()] == ["halted"]
    assert instance.pending_timers() == []
    instance = complete(roundtrip(instance), "halted", {})
    assert [task.element_id for task in instance.ready_tasks()] == ["after"]
    assert complete(instance, "after", {}).status == COMPLETED


def test_a_multi_instance_over_a_collection_nobody_set_stops_naming_the_collection():
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:subProcess id="each"><bpmn:multiInstanceLoopCharacteristics isSequential="true" '
        'camunda:collection="orderItems" camunda:elementVariable="item"/>'
        '<bpmn:startEvent id="each_start"/>' + user_task("pack") + '<bpmn:endEvent id="each_end"/>'
        + flow("each_start", "pack") + flow("pack", "each_end") + "</bpmn:subProcess>",
        '<bpmn:endEvent id="end"/>', flow("start", "each"), flow("each", "end")])
    [model] = load_processes(process(body, {"QA": ["start", "each", "each_start", "pack",
                                                   "each_end", "end"]}), "each.bpmn")
    instance = Instance.start(model)
    assert instance.status == ERROR
    assert str(instance.error) == \
        "each: the multi-instance collection 'orderItems' is not in the process data"
    assert [task.element_id for task in Instance.start(model, {"orderItems": [1, 2]})
            .ready_tasks()] == ["pack"]


def error_handled_in_an_event_subprocess(failing: bool) -> bytes:
    """start -> work -> an end event that throws error E1 (when `failing`), and an event
    subprocess whose start event catches E1 (as MIWG C.9.0's timeout handler does)."""
    handler = ('<bpmn:subProcess id="handler" triggeredByEvent="true"><bpmn:startEvent '
               'id="caught"><bpmn:errorEventDefinition errorRef="e1"/></bpmn:startEvent>'
               + user_task("handle") + '<bpmn:endEvent id="handled"/>' + flow("caught", "handle")
               + flow("handle", "handled") + "</bpmn:subProcess>")
    end = ('<bpmn:endEvent id="finish"><bpmn:errorEventDefinition errorRef="e1"/></bpmn:endEvent>'
           if failing else '<bpmn:endEvent id="finish"/>')
    source = process("\n".join(['<bpmn:startEvent id="start"/>', user_task("work"), end,
                                flow("start", "work"), flow("work", "finish"), handler]),
                     {"QA": ["start", "work", "finish", "handle"]})
    return source.replace(b"</bpmn:definitions>",
                          b'<bpmn:error id="e1" name="Late" errorCode="E1"/></bpmn:definitions>')


def test_an_error_event_subprocess_waits_for_its_error_instead_of_starting_with_its_scope():
    [model] = load_processes(error_handled_in_an_event_subprocess(failing=False), "e.bpmn")
    instance = roundtrip(Instance.start(model))
    assert [task.element_id for task in instance.ready_tasks()] == ["work"]
    assert complete(instance, "work", {}).status == COMPLETED


def test_an_error_thrown_in_its_scope_starts_the_error_event_subprocess():
    [model] = load_processes(error_handled_in_an_event_subprocess(failing=True), "e.bpmn")
    instance = complete(roundtrip(Instance.start(model)), "work", {})
    assert [task.element_id for task in instance.ready_tasks()] == ["handle"]
    assert complete(roundtrip(instance), "handle", {}).status == COMPLETED

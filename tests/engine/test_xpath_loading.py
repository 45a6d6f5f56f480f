"""XPath in diagrams: which declarations make an expression XPath, deploy-time errors located
by file, line, element and column, and the engine taking the branches XPath chooses."""
from __future__ import annotations

from pathlib import Path
import pytest

from engine import expressions
from engine.loader import load_processes
from engine.runtime import Instance
from tests.engine.bpmn_builder import flow, process, user_task
from tests.engine.test_expression_loading import (branches, declaring, gateway, line_of,
                                                  problems_of)

XPATH_URI = "http://www.w3.org/1999/XPath"
MIWG = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "miwg-reference"


def stored_conditions(source: bytes) -> dict[str, str]:
    """The condition of each flow as the engine stores it."""
    [model] = load_processes(source, "lang.bpmn")
    return {flow_id: spec_text for flow_id, spec_text in _conditions(model.spec)}


def _conditions(spec) -> list[tuple[str, str]]:
    found = []
    for task_spec in spec.task_specs.values():
        for condition, target in getattr(task_spec, "cond_task_specs", []) or []:
            if condition is not None:
                found.append((target, condition.args[0]))
    return found


@pytest.mark.parametrize("conditions", [
    ("bpmn:getDataObject('amount') <= 1000 and not(bpmn:getDataObject('urgent'))",
     "bpmn:getDataObject('amount') > 1000 or bpmn:getDataObject('urgent')"),
    ("$amount <= 1000 and $urgent = false()", "number($amount) > 1000 or boolean($urgent)"),
    ("bpmn:getDataObject('note') = '' and $amount < 1000 and not($urgent)",
     "string-length(bpmn:getDataObject('note')) > 0 or $amount >= 1000 or $urgent"),
])
def test_xpath_declared_on_the_definitions_chooses_the_branch(conditions):
    source = gateway(conditions, header=declaring(XPATH_URI))
    assert branches(source, {"amount": 200, "urgent": False, "note": ""}) == ["a"]
    assert branches(source, {"amount": 5000, "urgent": False, "note": ""}) == ["b"]
    assert branches(source, {"amount": 200, "urgent": True, "note": ""}) == ["b"]


def test_xpath_declared_on_one_condition_applies_to_that_condition_only():
    source = gateway(("bpmn:getDataObject('amount') < 1000", "amount >= 1000"),
                     language=XPATH_URI)
    assert branches(source, {"amount": 1}) == ["a"]
    assert branches(source, {"amount": 1000}) == ["b"]


def test_xpath_compares_text_data_as_numbers_where_xpath_does():
    # Form data typed as text: XPath's `<` converts both sides to numbers.
    source = gateway(("$amount < 1000", "$amount >= 1000"), header=declaring(XPATH_URI))
    assert branches(source, {"amount": "1500"}) == ["b"]
    assert branches(source, {"amount": "999.5"}) == ["a"]


def test_paths_into_a_data_object_choose_the_branch():
    source = gateway(("sum(bpmn:getDataObject('order')/lines/amount) > 100",
                      "sum(bpmn:getDataObject('order')/lines/amount) <= 100"),
                     header=declaring(XPATH_URI))
    order = {"lines": [{"amount": 60}, {"amount": 70}]}
    assert branches(source, {"order": order}) == ["a"]
    assert branches(source, {"order": {"lines": [{"amount": 60}]}}) == ["b"]


def test_juel_and_feel_keep_their_language_under_the_default_xpath_declaration():
    """Tools write BPMN's default XPath URI on files whose conditions are JUEL (MIWG C.1.0):
    text in `${...}` or `=...` form cannot be XPath, so it stays JUEL or FEEL."""
    source = gateway(("${amount lt 1000}", "=amount >= 1000"), header=declaring(XPATH_URI))
    assert branches(source, {"amount": 1}) == ["a"]
    assert branches(source, {"amount": 1000}) == ["b"]


def test_a_python_condition_under_an_xpath_declaration_is_read_as_xpath():
    """The declaration decides, not the syntax: a bare name is an XPath location path."""
    [problem] = problems_of(gateway(("amount < 1000", "bpmn:getDataObject('amount') >= 1000"),
                                    header=declaring(XPATH_URI)))
    assert "to_a: condition 'amount < 1000' (xpath): line 1, column 1: the path 'amount' " \
           "reads the context node" in problem
    assert "read process data with bpmn:getDataObject('amount')" in problem


def test_xpath_is_not_guessed_without_a_declaration_but_hinted_at():
    [problem] = problems_of(gateway(("bpmn:getDataObject('amount') < 1000", "amount >= 1000")))
    assert "to_a: condition \"bpmn:getDataObject('amount') < 1000\": line 1: SyntaxError" \
        in problem
    assert problem.endswith('; it reads as XPath: declare language="http://www.w3.org/1999/'
                            'XPath" on the condition or expressionLanguage on the definitions')


def test_a_designer_cannot_write_the_stored_marker_to_reach_xpath():
    [problem] = problems_of(gateway(("xpath:true()", "amount >= 1000")))
    assert "to_a: condition 'xpath:true()': line 1: SyntaxError" in problem


def test_an_xpath_error_names_file_line_element_and_column():
    source = gateway(("bpmn:getDataObject('amount') >", "true()"), header=declaring(XPATH_URI))
    [problem] = problems_of(source)
    line = line_of(source, "bpmn:getDataObject(&apos;amount&apos;) &gt;"
                   if b"&apos;" in source else "bpmn:getDataObject('amount') &gt;")
    assert problem.startswith(f"lang.bpmn:{line}: to_a: condition "
                              "\"bpmn:getDataObject('amount') >\" (xpath): line 1, column 31: "
                              "unexpected end of expression")


def test_an_xpath_error_on_a_later_line_of_the_condition_names_that_line():
    source = gateway(("$amount > 1 and\n  bpmn:getActivityProperty('a', 'b')", "true()"),
                     header=declaring(XPATH_URI))
    [problem] = problems_of(source)
    assert problem.startswith(f"lang.bpmn:{line_of(source, 'bpmn:getActivityProperty')}: to_a: ")
    assert "(xpath): line 2, column 3: bpmn:getActivityProperty() is not available" in problem


def test_an_empty_xpath_condition_is_refused():
    [problem] = problems_of(gateway(("  ", "true()"), language=XPATH_URI))
    assert problem.endswith("to_a: condition is empty")


def test_an_xpath_runtime_error_puts_the_instance_in_error():
    source = gateway(("count($amount) > 1", "true()"), header=declaring(XPATH_URI))
    [model] = load_processes(source, "lang.bpmn")
    instance = Instance.start(model, {"amount": 5})
    [decide] = instance.waiting()[0]
    instance.complete(decide.id, {})
    assert instance.error is not None and instance.error.element_id == "gw"
    assert "count() needs a node-set" in str(instance.error)


def test_multi_instance_cardinality_and_completion_in_xpath():
    loop = ('<bpmn:multiInstanceLoopCharacteristics>'
            '<bpmn:loopCardinality>count($reviewers)</bpmn:loopCardinality>'
            "<bpmn:completionCondition>$reviewers = 'he'</bpmn:completionCondition>"
            '</bpmn:multiInstanceLoopCharacteristics>')
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        f'<bpmn:userTask id="review" name="review">{loop}</bpmn:userTask>',
        user_task("after"), '<bpmn:endEvent id="end"/>',
        flow("start", "review"), flow("review", "after"), flow("after", "end")])
    source = process(body, {"QA": ["start", "review", "after", "end"]}).replace(
        b'id="defs"', f'id="defs" expressionLanguage="{XPATH_URI}"'.encode())
    [model] = load_processes(source, "mi.bpmn")
    instance = Instance.start(model, {"reviewers": ["li", "he", "wang"]})
    ready = instance.waiting()[0]
    assert [task.element_id for task in ready] == ["review"] * 3
    instance.complete(ready[0].id, {})
    assert instance.error is None, instance.error
    assert [task.element_id for task in instance.waiting()[0]] == ["after"]


def test_a_literal_iso_timer_stays_a_timer_under_an_xpath_declaration():
    """MIWG C.3.0 writes `PT2H` with language XPath: timers stay ISO text as before."""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("wait_here"), '<bpmn:endEvent id="end"/>',
        '<bpmn:endEvent id="late_end"/>',
        '<bpmn:boundaryEvent id="late" attachedToRef="wait_here">'
        f'<bpmn:timerEventDefinition><bpmn:timeDuration language="{XPATH_URI}">PT2H'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
        flow("start", "wait_here"), flow("wait_here", "end"), flow("late", "late_end")])
    source = process(body, {"QA": ["start", "wait_here", "end", "late", "late_end"]}).replace(
        b'id="defs"', f'id="defs" expressionLanguage="{XPATH_URI}"'.encode())
    [model] = load_processes(source, "timer.bpmn")
    instance = Instance.start(model, {})
    assert instance.error is None
    assert [timer.element_id for timer in instance.waiting()[1]] == ["late"]


def test_a_data_store_nothing_refers_to_does_not_stop_a_deploy():
    store = '<bpmn:dataStore id="ledger" name="Ledger"/>'
    body = "\n".join(['<bpmn:startEvent id="start"/>', user_task("a"),
                      '<bpmn:endEvent id="end"/>', flow("start", "a"), flow("a", "end")])
    unused = process(body, {"QA": ["start", "a", "end"]}).replace(
        b"<bpmn:process", store.encode() + b"\n<bpmn:process")
    assert [model.key for model in load_processes(unused, "store.bpmn")] == ["proc"]


@pytest.mark.skipif(not MIWG.is_dir(), reason="../shared/interop is not beside the checkout")
def test_the_miwg_xpath_reference_file_deploys_and_routes_by_its_data_objects():
    """C.1.1: the definitions declare XPath; its gateways read bpmn:getDataObject(...)."""
    source = (MIWG / "C.1.1.bpmn").read_bytes()
    models = load_processes(source, "C.1.1.bpmn", default_owner="interop")
    [model] = [model for model in models if model.spec.task_specs]
    texts = [condition for _, condition in _conditions(model.spec)]
    assert expressions.canonical("bpmn:getDataObject('approved')",
                                 expressions.Language.XPATH) in texts
    assert all(expressions.stored_language(text) is expressions.Language.XPATH
               for text in texts)
    approved = expressions.canonical("not(bpmn:getDataObject('approved'))",
                                     expressions.Language.XPATH)
    assert expressions.evaluate(approved, {"approved": False}) is True
    assert expressions.evaluate(approved, {"approved": True}) is False


def test_the_stored_condition_carries_the_language_without_the_declaration():
    source = gateway(("$amount < 1", "$amount >= 1"), header=declaring(XPATH_URI))
    stored = sorted(stored_conditions(source).values())
    assert stored == ["xpath:$amount < 1", "xpath:$amount >= 1"]


def test_bpmn_functions_may_use_any_prefix_bound_to_bpmns_namespace():
    header = declaring(XPATH_URI).replace(
        "xmlns:bpmn=", 'xmlns:b2="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmn=')
    source = gateway(("b2:getDataObject('amount') < 1000",
                      "bpmn:getDataObject('amount') >= 1000"), header=header)
    assert branches(source, {"amount": 1}) == ["a"]
    assert branches(source, {"amount": 1000}) == ["b"]
    assert sorted(stored_conditions(source).values()) == [
        "xpath:bpmn:getDataObject('amount') < 1000", "xpath:bpmn:getDataObject('amount') >= 1000"]


def test_a_prefix_not_bound_to_bpmns_namespace_is_refused():
    header = declaring(XPATH_URI).replace("xmlns:bpmn=", 'xmlns:ex="urn:example" xmlns:bpmn=')
    [problem] = problems_of(gateway(("ex:getDataObject('amount') < 1000", "true()"),
                                    header=header))
    assert "(xpath): line 1, column 1: function ex:getDataObject() is not available; " \
           "BPMN's functions are written bpmn:getDataObject(...)" in problem

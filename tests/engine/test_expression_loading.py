"""JUEL and FEEL in diagrams: which language applies, deploy-time errors located by file,
line, element and column, and the engine taking the branches they choose."""
from __future__ import annotations

import datetime as dt
from xml.sax.saxutils import escape

import pytest

from engine import deadlines, expressions
from engine.errors import BpmnValidationError
from engine.loader import load_processes
from engine.runtime import Instance
from tests.engine.bpmn_builder import HEADER, flow, process, user_task

FEEL_URI = "https://www.omg.org/spec/FEEL/20140401"
JUEL_URI = "http://www.omg.org/spec/JUEL"


def gateway(conditions: tuple[str, str], header: str = HEADER, kind: str = "exclusiveGateway",
            language: str = "") -> bytes:
    """start -> decide -> gateway -> (to_a: a | to_b: b) -> end, lane QA."""
    attr = f' language="{language}"' if language else ""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("decide"), f'<bpmn:{kind} id="gw"/>',
        user_task("a"), user_task("b"), f'<bpmn:{kind} id="join"/>', '<bpmn:endEvent id="end"/>',
        flow("start", "decide"), flow("decide", "gw"),
        flow("gw", "a", escape(conditions[0]), "to_a").replace(
            "<bpmn:conditionExpression", f"<bpmn:conditionExpression{attr}"),
        flow("gw", "b", escape(conditions[1]), "to_b"),
        flow("a", "join"), flow("b", "join"), flow("join", "end")])
    source = process(body, {"QA": ["start", "decide", "gw", "a", "b", "join", "end"]})
    return source.replace(HEADER.encode(), header.encode())


def declaring(uri: str) -> str:
    return HEADER.replace('id="defs"', f'id="defs" expressionLanguage="{uri}"')


def problems_of(source: bytes) -> list[str]:
    with pytest.raises(BpmnValidationError) as caught:
        load_processes(source, "lang.bpmn")
    return [str(problem) for problem in caught.value.problems]


def line_of(source: bytes, needle: str) -> int:
    return source[:source.index(needle.encode())].count(b"\n") + 1


def branches(source: bytes, data: dict) -> list[str]:
    """The user tasks ready after an instance started with `data` passes `decide`."""
    [model] = load_processes(source, "lang.bpmn")
    instance = Instance.start(model, data)
    [decide] = instance.waiting()[0]
    instance.complete(decide.id, {})
    assert instance.error is None, instance.error
    return sorted(task.element_id for task in instance.waiting()[0])


@pytest.mark.parametrize("conditions", [
    ("${amount le 1000 && !urgent}", "${amount gt 1000 || urgent}"),
    ("#{amount <= 1000 and not urgent}", "#{amount > 1000 or urgent}"),
    ("${empty note ? amount lt 1000 : false}", "${not empty note or amount ge 1000}"),
    ("${execution.getVariable('amount') < 1000 && urgent == false}",
     "${execution.getVariable('amount') >= 1000 || urgent eq true}"),
])
def test_juel_gateway_conditions_choose_the_branch(conditions):
    source = gateway(conditions)
    assert branches(source, {"amount": 200, "urgent": False, "note": ""}) == ["a"]
    assert branches(source, {"amount": 5000, "urgent": False, "note": ""}) == ["b"]


@pytest.mark.parametrize("conditions", [
    ('=amount <= 1000 and not(urgent)', '=amount > 1000 or urgent'),
    ('= amount in [0..1000) and note = ""', '= amount in > 999 or string length(note) > 0'),
    ('=some x in [amount] satisfies x < 1000', '=every x in [amount] satisfies x >= 1000'),
    ('=if urgent then false else amount < 1000', '=if urgent then true else amount >= 1000'),
])
def test_feel_gateway_conditions_choose_the_branch(conditions):
    source = gateway(conditions)
    assert branches(source, {"amount": 200, "urgent": False, "note": ""}) == ["a"]
    assert branches(source, {"amount": 5000, "urgent": False, "note": ""}) == ["b"]


def test_feel_declared_on_the_definitions_needs_no_equals_sign():
    source = gateway(("amount < 1000", "amount >= 1000"), header=declaring(FEEL_URI))
    assert branches(source, {"amount": 1}) == ["a"]
    assert branches(source, {"amount": 1000}) == ["b"]


def test_feel_declared_on_one_condition_applies_to_that_condition():
    source = gateway(("amount < 1000", "${amount >= 1000}"),
                     language="https://www.omg.org/spec/DMN/20191111/FEEL/")
    assert branches(source, {"amount": 1}) == ["a"]
    assert branches(source, {"amount": 1000}) == ["b"]


def test_juel_declared_on_the_definitions_applies_juel_coercions():
    # As Python, "1500" > 1000 would fail; JUEL compares the text as a number.
    source = gateway(("${amount lt 1000}", "${amount >= 1000}"), header=declaring(JUEL_URI))
    assert branches(source, {"amount": "1500"}) == ["b"]


def test_an_inclusive_gateway_takes_every_true_feel_condition():
    source = gateway(("=amount > 0", "=amount > 100"), kind="inclusiveGateway")
    assert branches(source, {"amount": 500}) == ["a", "b"]
    assert branches(source, {"amount": 50}) == ["a"]


def test_python_conditions_keep_their_behaviour_beside_the_new_languages():
    source = gateway(("${amount < 1000 and not urgent}", "amount >= 1000 or urgent"))
    assert branches(source, {"amount": 1, "urgent": False}) == ["a"]
    assert branches(source, {"amount": 1, "urgent": True}) == ["b"]


def test_a_juel_syntax_error_names_file_line_element_and_column():
    source = gateway(("${amount gt }", "${amount le 1}"))
    [problem] = problems_of(source)
    line = line_of(source, "${amount gt }")
    assert problem.startswith(f"lang.bpmn:{line}: to_a: condition '${{amount gt }}' (juel): "
                              "line 1, column 13: unexpected end of expression")


def test_a_feel_error_on_a_later_line_of_the_condition_names_that_line():
    source = gateway(("=amount > 1 and\n  strng length(note) > 2", "=amount <= 1"))
    [problem] = problems_of(source)
    line = line_of(source, "strng length")
    assert problem.startswith(f"lang.bpmn:{line}: to_a: condition ")
    assert "(feel): line 2, column 3: unknown function 'strng length'" in problem


def test_every_bad_expression_is_reported_at_once():
    problems = problems_of(gateway(("=amount >", "${a && || b}")))
    assert [problem.split(": ")[1] for problem in problems] == ["to_a", "to_b"]


def test_an_empty_feel_condition_is_refused():
    [problem] = problems_of(gateway(("=", "=true")))
    assert problem.endswith("to_a: condition is empty")


def test_juel_and_feel_cannot_reach_python_internals_at_deploy():
    problems = problems_of(gateway(("${amount.__class__ == null}", "${_secret == 1}")))
    assert any("name '__class__' is not allowed" in problem for problem in problems)
    assert any("name '_secret' is not allowed" in problem for problem in problems)


def test_a_feel_timer_duration_is_evaluated_as_iso_text():
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("wait_here"), '<bpmn:endEvent id="end"/>',
        '<bpmn:endEvent id="late_end"/>',
        '<bpmn:boundaryEvent id="late" attachedToRef="wait_here">'
        '<bpmn:timerEventDefinition><bpmn:timeDuration>=duration("PT" + string(hours) + "H")'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
        flow("start", "wait_here"), flow("wait_here", "end"), flow("late", "late_end")])
    source = process(body, {"QA": ["start", "wait_here", "end", "late", "late_end"]})
    [model] = load_processes(source, "timer.bpmn")
    instance = Instance.start(model, {"hours": 3})
    [timer] = instance.waiting()[1]
    assert instance.error is None
    assert timer.element_id == "late"


def test_a_feel_timer_with_a_typo_is_refused_with_its_column():
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("wait_here"), '<bpmn:endEvent id="end"/>',
        '<bpmn:boundaryEvent id="late" attachedToRef="wait_here">'
        '<bpmn:timerEventDefinition><bpmn:timeDuration>=duraton("PT1H")'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
        flow("start", "wait_here"), flow("wait_here", "end")])
    source = process(body, {"QA": ["start", "wait_here", "end", "late"]})
    [problem] = problems_of(source)
    assert ": late: timeDuration '=duraton(\"PT1H\")' (feel): line 1, column 2: unknown function" \
        in problem


def test_an_undeclared_feel_condition_is_refused_with_a_hint():
    [problem] = problems_of(gateway(('Vacation Approval = "Approved"', "=true")))
    assert ": to_a: condition 'Vacation Approval = \"Approved\"': line 1: SyntaxError" in problem
    assert "it reads as FEEL: write it as '=...' or declare expressionLanguage=" in problem


@pytest.mark.parametrize("cardinality, completion, after_one", [
    ("=count(reviewers)", "=list contains(reviewers, \"he\")", ["after"]),
    ("=count(reviewers)", "=list contains(reviewers, \"nobody\")", ["review", "review"]),
    ("${reviewers.size()}", "${reviewers.contains('he') && !empty reviewers}", ["after"]),
    ("${reviewers.size()}", "${reviewers.contains('nobody')}", ["review", "review"]),
])
def test_multi_instance_cardinality_and_completion_in_feel_or_juel(cardinality, completion,
                                                                    after_one):
    """SpiffWorkflow gives completion conditions no nrOf* variables, so they read task data."""
    loop = ('<bpmn:multiInstanceLoopCharacteristics>'
            f'<bpmn:loopCardinality>{escape(cardinality)}</bpmn:loopCardinality>'
            f'<bpmn:completionCondition>{escape(completion)}</bpmn:completionCondition>'
            '</bpmn:multiInstanceLoopCharacteristics>')
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        f'<bpmn:userTask id="review" name="review">{loop}</bpmn:userTask>',
        user_task("after"), '<bpmn:endEvent id="end"/>',
        flow("start", "review"), flow("review", "after"), flow("after", "end")])
    source = process(body, {"QA": ["start", "review", "after", "end"]})
    [model] = load_processes(source, "mi.bpmn")
    instance = Instance.start(model, {"reviewers": ["li", "he", "wang"]})
    ready = instance.waiting()[0]
    assert [task.element_id for task in ready] == ["review"] * 3
    instance.complete(ready[0].id, {})
    assert instance.error is None, instance.error
    assert [task.element_id for task in instance.waiting()[0]] == after_one


def test_a_bad_multi_instance_expression_is_located():
    loop = ('<bpmn:multiInstanceLoopCharacteristics>'
            '<bpmn:loopCardinality>=count(reviewers</bpmn:loopCardinality>'
            '</bpmn:multiInstanceLoopCharacteristics>')
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', f'<bpmn:userTask id="review" name="review">{loop}</bpmn:userTask>',
        '<bpmn:endEvent id="end"/>', flow("start", "review"), flow("review", "end")])
    [problem] = problems_of(process(body, {"QA": ["start", "review", "end"]}))
    assert ": review: loopCardinality '=count(reviewers' (feel): line 1, column 17: " \
           "unexpected end of expression" in problem


@pytest.mark.parametrize("text, language", [
    ("${amount > 1}", "python"), ("${when.year == 2026}", "python"),
    ("${name.startswith('Z')}", "python"), ("${d.get('a') == 1}", "python"),
    ("${items.count(1) > 0}", "python"), ("${not approved}", "python"),
    ("${!approved}", "juel"), ("${a && b}", "juel"), ("${a eq 1}", "juel"), ("${x == null}", "juel"),
    ("${approved == true}", "juel"), ("${empty items}", "juel"), ("${a ? 1 : 2}", "juel"),
    ("${name.equals('x')}", "juel"), ("${name.length() > 2}", "juel"),
    ("${execution.getVariable('a')}", "juel"), ("#{amount > 1}", "juel"),
    ("=amount > 1", "feel"), ("amount > 1", "python"), ("${x ==}", "python"),
])
def test_the_language_follows_from_the_text_when_nothing_is_declared(text, language):
    assert expressions.detect(text).value == language


@pytest.mark.parametrize("uri, language", [
    ("http://www.omg.org/spec/FEEL/20140401", "feel"), ("https://www.omg.org/spec/FEEL/20140401",
                                                        "feel"),
    ("https://www.omg.org/spec/DMN/20191111/FEEL/", "feel"), ("http://www.omg.org/spec/JUEL", "juel"),
    ("python", "python"), ("http://www.w3.org/1999/XPath", None), ("", None),
])
def test_declared_languages_are_read_from_their_uris(uri, language):
    found = expressions.declared_language(uri)
    assert (found.value if found else None) == language


def test_a_juel_due_date_is_checked_and_resolved():
    ready = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    text = "${execution.getVariable('sla') != null ? sla : 'PT8H'}"
    assert deadlines.check_due_date(text) is None
    assert deadlines.resolve_due_at(text, {"sla": "PT2H"}, ready) == ready + dt.timedelta(hours=2)
    assert deadlines.resolve_due_at(text, {}, ready) == ready + dt.timedelta(hours=8)
    assert "column" in deadlines.check_due_date("${sla ? }")


def test_a_juel_runtime_error_quotes_the_condition_as_written():
    source = gateway(("${missing gt 1}", "${amount le 1}"))
    [model] = load_processes(source, "lang.bpmn")
    instance = Instance.start(model, {"amount": 5})
    [decide] = instance.waiting()[0]
    instance.complete(decide.id, {})
    assert instance.error is not None and instance.error.element_id == "gw"
    assert "'${missing gt 1}'" in str(instance.error)
    assert "cannot resolve identifier 'missing'" in str(instance.error)

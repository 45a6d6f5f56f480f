"""DMN decision tables (engine.decisions) and business rule tasks (engine.business_rules):
unary tests, every hit policy, result mappings, required decisions, refusals located as
`file:line: element: message`, and instances routed by a decision."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from engine import expressions
from engine.decisions import DecisionError, decide, load_decisions, map_result
from engine.errors import BpmnValidationError
from engine.loader import load_processes
from engine.runtime import ERROR, Instance
from tests.engine.bpmn_builder import decision_table, flow, process, user_task



@pytest.mark.parametrize("cell,value,expected", [
    ("-", 42, True), ("", None, True),
    ("< 10", 5, True), ("< 10", 10, False), ("<= 10", 10, True), ("> 1000", 1000.5, True),
    (">= 2", 1, False), ("!= 3", 4, True), ("< 10", None, False), ("< 10", "text", False),
    ("[1..10]", 1, True), ("[1..10]", 10, True), ("(1..10]", 1, False), ("[1..10)", 10, False),
("[250..1000]", Decimal("999.99"), True),
    ('"Misc"', "Misc", True), ('"Misc"', "misc", False),
    ('"Travel Expenses","Misc"', "Misc", True), ('"a", "b", "c"', "d", False),
    ('not("a","b")', "c", True), ('not("a","b")', "a", False), ("not(< 5)", 7, True),
    ("true", True, True), ("false", True, False), ("null", None, True), ("not(null)", 1, True),
    ("3", 3.0, True), ("3.5", Decimal("3.5"), True), ("-3", -3, True),
    ('date("2024-05-01")', dt.date(2024, 5, 1), True),
    ('< date("2024-05-01")', dt.date(2024, 4, 30), True),
    ('[date("2024-01-01")..date("2024-12-31")]', dt.date(2025, 1, 1), False),
    ('@"2024-05-01"', dt.date(2024, 5, 1), True),
    ("? > 5 and ? < 10", 7, True), ("? > 5 and ? < 10", 12, False),
    ('starts with(?, "INV-")', "INV-7", True), ("[1..2], > 10", 11, True),
    ("limit", 3, True), ("> limit", 3, False), ("[1,2,3]", 2, True),
])
def test_unary_tests(cell, value, expected):
    assert expressions.matches(cell, value, {"limit": 3}) is expected


@pytest.mark.parametrize("cell", ["< ", "[1..", 'not("a"', "x +", "== 3", "a b c d(", "for"])
def test_a_malformed_input_entry_is_a_located_syntax_error(cell):
    with pytest.raises(expressions.ExpressionSyntaxError) as refused:
        expressions.check_unary_tests(cell)
    assert refused.value.column is not None


def test_the_input_value_is_known_only_in_input_entries():
    with pytest.raises(expressions.ExpressionSyntaxError, match="only known in a decision"):
        expressions.check("= ? > 3")


def grade_table(hit_policy: str, rules, aggregation=None, outputs=("grade",), **options):
    return load_decisions([("grades.dmn", decision_table("grade", ["score"], list(outputs),
                                                         rules, hit_policy, aggregation,
                                                         **options))])


OVERLAPPING = [(["< 50"], ['"low"']), (["[40..80]"], ['"mid"']), ([">= 45"], ['"high"'])]


@pytest.mark.parametrize("hit_policy,score,expected", [
    ("UNIQUE", 30, [{"grade": "low"}]),
    ("UNIQUE", 90, [{"grade": "high"}]),
    ("UNIQUE", 200 * -1, [{"grade": "low"}]),
    ("FIRST", 47, [{"grade": "low"}]),
    ("FIRST", 60, [{"grade": "mid"}]),
    ("RULE ORDER", 47, [{"grade": "low"}, {"grade": "mid"}, {"grade": "high"}]),
    ("COLLECT", 60, [{"grade": "mid"}, {"grade": "high"}]),
    ("COLLECT", 1000, [{"grade": "high"}]),
    ("RULE ORDER", None, []),
])
def test_hit_policies(hit_policy, score, expected):
    decisions = grade_table(hit_policy, OVERLAPPING)
    assert decide(decisions, "grade", {"score": score}) == expected


def test_unique_refuses_two_matching_rules_by_number():
    with pytest.raises(DecisionError, match=r"rules 1, 2, 3 all match, but the hit policy is UNIQUE"):
        decide(grade_table("UNIQUE", OVERLAPPING), "grade", {"score": 47})


def test_priority_and_output_order_rank_by_the_output_values():
    values = {"grade": '"high","mid","low"'}
    priority = grade_table("PRIORITY", OVERLAPPING, output_values=values)
    assert decide(priority, "grade", {"score": 47}) == [{"grade": "high"}]
    assert decide(priority, "grade", {"score": 30}) == [{"grade": "low"}]
    ordered = grade_table("OUTPUT ORDER", OVERLAPPING, output_values=values)
    assert decide(ordered, "grade", {"score": 47}) == [
        {"grade": "high"}, {"grade": "mid"}, {"grade": "low"}]


def test_any_takes_agreeing_rules_and_refuses_disagreeing_ones():
    agreeing = grade_table("ANY", [(["< 50"], ['"ok"']), (["< 60"], ['"ok"'])])
    assert decide(agreeing, "grade", {"score": 10}) == [{"grade": "ok"}]
    disagreeing = grade_table("ANY", [(["< 50"], ['"ok"']), (["< 60"], ['"no"'])])
    with pytest.raises(DecisionError, match="different outputs, but the hit policy is ANY"):
        decide(disagreeing, "grade", {"score": 10})


FEES = [(["< 100"], ["10"]), (["< 50"], ["2.5"]), (["< 10"], ["1"]), (["> 1000"], ["99"])]


@pytest.mark.parametrize("aggregation,score,expected", [
    ("SUM", 5, [{"fee": Decimal("13.5")}]),
    ("SUM", 500, []),
    ("MIN", 5, [{"fee": 1}]),
    ("MAX", 40, [{"fee": 10}]),
    ("COUNT", 40, [{"fee": 2}]),
    ("COUNT", 500, [{"fee": 0}]),
    (None, 40, [{"fee": 10}, {"fee": Decimal("2.5")}]),
])
def test_collect_aggregations(aggregation, score, expected):
    decisions = grade_table("COLLECT", FEES, aggregation, outputs=("fee",))
    assert decide(decisions, "grade", {"score": score}) == expected


def test_several_inputs_and_outputs_and_output_expressions():
    table = decision_table("route", ["amount", "category"], ["team", "limit"], [
        (["<= 1000", '"travel","misc"'], ['"accounting"', "amount * 2"]),
        (["> 1000", "-"], ['"management"', "null"]),
        (["-", '"software"'], ['upper case(category)', "amount + 1"]),
    ], hit_policy="RULE ORDER")
    decisions = load_decisions([("route.dmn", table)])
    assert decide(decisions, "route", {"amount": 5000, "category": "software"}) == [
        {"team": "management", "limit": None}, {"team": "SOFTWARE", "limit": 5001}]
    assert decide(decisions, "route", {"amount": 10, "category": "misc"}) == [
        {"team": "accounting", "limit": 20}]


RESULTS = [{"group": "accounting"}, {"group": "sales"}]


@pytest.mark.parametrize("mapping,results,expected", [
    ("resultList", RESULTS, RESULTS),
    ("collectEntries", RESULTS, ["accounting", "sales"]),
    ("collectEntries", [], []),
    ("singleResult", RESULTS[:1], {"group": "accounting"}),
    ("singleResult", [], None),
    ("singleEntry", RESULTS[:1], "accounting"),
    ("singleEntry", [], None),
])
def test_camunda_result_mappings(mapping, results, expected):
    [decision] = grade_table("COLLECT", OVERLAPPING).values()
    assert map_result(decision, results, mapping) == expected


@pytest.mark.parametrize("mapping,results,message", [
    ("singleEntry", RESULTS, "gave 2 results; mapDecisionResult singleEntry takes at most one"),
    ("singleResult", RESULTS, "gave 2 results"),
    ("collectEntries", [{"a": 1, "b": 2}], "several outputs per result"),
])
def test_a_result_the_mapping_cannot_take_is_an_error(mapping, results, message):
    [decision] = grade_table("COLLECT", OVERLAPPING).values()
    with pytest.raises(DecisionError, match=message):
        map_result(decision, results, mapping)


def test_zeebe_results_are_values_or_lists_by_hit_policy():
    [single] = grade_table("FIRST", OVERLAPPING).values()
    [many] = grade_table("COLLECT", OVERLAPPING).values()
    assert map_result(single, [{"grade": "low"}], "zeebe") == "low"
    assert map_result(single, [], "zeebe") is None
    assert map_result(many, [{"grade": "low"}, {"grade": "mid"}], "zeebe") == ["low", "mid"]


def test_a_decision_evaluates_the_decision_it_requires_first():
    """Shaped like an invoice approval: classify the expense, then collect who approves."""
    classify = decision_table("classify", ["amount", "category"], ["classification"], [
        (["< 1000", '"Misc"'], ['"routine"']),
        (["[1000..10000)", '"Misc"'], ['"budget"']),
        (["< 10000", '"Travel Expenses"'], ['"routine"']),
        ([">= 10000", "-"], ['"exceptional"'])])
    route = decision_table("route", ["classification"], ["team"], [
        (['"routine"'], ['"accounting"']),
        (['"routine","budget"'], ['"sales"']),
        (['"exceptional"'], ['"management"'])], hit_policy="COLLECT",
        extra='<informationRequirement id="needs_classify">'
              '<requiredDecision href="#classify"/></informationRequirement>')
    decisions = load_decisions([("classify.dmn", classify), ("route.dmn", route)])
    assert decisions["route"].required == ("classify",)
    small = {"amount": 100, "category": "Misc"}
    assert decide(decisions, "route", small) == [{"team": "accounting"}, {"team": "sales"}]
    assert decide(decisions, "route", {"amount": 50000, "category": "Misc"}) == [
        {"team": "management"}]
    assert decide(decisions, "classify", {"amount": 5000, "category": "Travel Expenses"}) == [
        {"classification": "routine"}]


@pytest.mark.parametrize("namespace", ["http://www.omg.org/spec/DMN/20151101/dmn.xsd",
                                       "http://www.omg.org/spec/DMN/20180521/MODEL/",
                                       "https://www.omg.org/spec/DMN/20191111/MODEL/"])
def test_dmn_1_1_to_1_3_files_load(namespace):
    table = decision_table("d", ["x"], ["y"], [(["> 1"], ['"big"'])], namespace=namespace)
    assert decide(load_decisions([("d.dmn", table)]), "d", {"x": 2}) == [{"y": "big"}]


def test_a_literal_expression_decision_and_a_juel_output_entry():
    literal = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs" name="d" namespace="x">
  <decision id="doubled" name="Doubled">
    <variable name="twice"/>
    <literalExpression id="e"><text>amount * 2</text></literalExpression>
  </decision>
  <decision id="juel" name="Juel">
    <decisionTable id="t">
      <input id="i"><inputExpression id="ie"><text>amount</text></inputExpression></input>
      <output id="o" name="label"/>
      <rule id="r"><inputEntry id="r_i"><text>-</text></inputEntry>
        <outputEntry id="r_o" expressionLanguage="juel"><text>${amount gt 3 ? 'many' : 'few'}</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"""
    decisions = load_decisions([("d.dmn", literal)])
    assert decide(decisions, "doubled", {"amount": 4}) == [{"twice": 8}]
    assert decide(decisions, "juel", {"amount": 4}) == [{"label": "many"}]


def refusals(*files) -> list[str]:
    with pytest.raises(BpmnValidationError) as refused:
        load_decisions(list(files))
    return [str(problem) for problem in refused.value.problems]


@pytest.mark.parametrize("options,rules,expected", [
    ({"hit_policy": "SOMETIMES"}, [(["1"], ['"a"'])],
     "grades.dmn:4: table_grade: hit policy 'SOMETIMES' is not one of"),
    ({"hit_policy": "FIRST", "aggregation": "SUM"}, [(["1"], ['"a"'])],
     "table_grade: aggregation 'SUM': only COLLECT aggregates"),
    ({"hit_policy": "COLLECT", "aggregation": "AVG"}, [(["1"], ['"a"'])],
     "aggregation 'AVG': only COLLECT aggregates, with SUM, MIN, MAX, COUNT"),
    ({}, [(["[1..", ], ['"a"'])], "grades.dmn:7: inputEntry_1_0: rule 1: input entry '[1..': "
                                  "line 1, column 5: unexpected end of expression"),
    ({}, [(["1"], ['"a" +'])], "grades.dmn:7: outputEntry_1_0: rule 1: output entry '\"a\" +' "
                               "(feel): line 1, column 7"),
    ({}, [(["1", "2"], ['"a"'])], "grades.dmn:7: rule_1: rule 1 has 2 input entries and 1 output "
                                  "entries; the table has 1 inputs and 1 outputs"),
    ({"hit_policy": "PRIORITY"}, [(["1"], ['"a"'])],
     "hit policy PRIORITY ranks rules by the outputs' output values"),
])
def test_a_bad_table_is_refused_where_it_is(options, rules, expected):
    table = decision_table("grade", ["score"], ["grade"], rules, **options)
    problems = refusals(("grades.dmn", table))
    assert any(problem.startswith(expected) or expected in problem for problem in problems), \
        problems


def test_file_level_refusals():
    table = decision_table("grade", ["score"], ["grade"], [(["1"], ['"a"'])])
    assert refusals(("a.dmn", table), ("b.dmn", table)) == [
        "b.dmn:3: grade: decision id 'grade' is also in a.dmn"]
    assert refusals(("x.dmn", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><d/>')) == [
        "x.dmn:1: -: DTDs and entity declarations are not allowed"]
    assert refusals(("x.dmn", b"<definitions/>")) == [
        "x.dmn:1: -: the root element is not a DMN 1.1-1.5 definitions"]
    requiring = decision_table("grade", ["score"], ["grade"], [(["1"], ['"a"'])], extra=(
        '<informationRequirement id="req"><requiredDecision href="#missing"/>'
        "</informationRequirement>"))
    assert refusals(("r.dmn", requiring)) == [
        "r.dmn:3: grade: required decision 'missing' is not in the deployment"]
    itself = requiring.replace(b"#missing", b"#grade")
    assert refusals(("r.dmn", itself)) == [
        "r.dmn:3: grade: the decision requires itself (a cycle of required decisions)"]


# ------------------------------------------------------------------- business rule tasks

APPROVAL = decision_table("approval", ["amount"], ["approver"], [
    (["<= 1000"], ['"team lead"']), (["> 1000"], ['"director"'])])


def routed_by_decision(task_attributes: str, extension: str = "",
                       condition: str = '${approver == "director"}') -> bytes:
    """start -> decide (business rule task) -> gateway: director or team lead -> end."""
    body = ['<bpmn:startEvent id="start"/>',
            f'<bpmn:businessRuleTask id="decide" name="Decide" {task_attributes}>'
            f"{extension}</bpmn:businessRuleTask>",
            '<bpmn:exclusiveGateway id="who" default="to_lead"/>',
            user_task("director"), user_task("lead"), '<bpmn:endEvent id="end"/>',
            flow("start", "decide"), flow("decide", "who"),
            flow("who", "director", condition), flow("who", "lead", flow_id="to_lead"),
            flow("director", "end"), flow("lead", "end")]
    return process("\n".join(body), {"QA": ["start", "director", "lead", "end"]}).replace(
        b"<bpmn:definitions ", b'<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" ')


def run(source: bytes, data: dict, files=(("approval.dmn", APPROVAL),)) -> Instance:
    [model] = load_processes(source, "routed.bpmn", decision_files=list(files))
    instance = Instance.start(model, data)
    return Instance.restore(model, json.loads(json.dumps(instance.dump())))


def ready(instance: Instance) -> list[str]:
    return [task.element_id for task in instance.ready_tasks()]


@pytest.mark.parametrize("amount,expected", [(5000, "director"), (200, "lead")])
def test_a_camunda_business_rule_task_decides_and_the_gateway_branches_on_it(amount, expected):
    source = routed_by_decision('camunda:decisionRef="approval" camunda:resultVariable="approver" '
                                'camunda:mapDecisionResult="singleEntry"')
    instance = run(source, {"amount": amount})
    assert ready(instance) == [expected]
    assert instance.data["approver"] == ("director" if amount > 1000 else "team lead")


def test_a_zeebe_called_decision_puts_its_result_under_the_result_variable():
    source = routed_by_decision("", '<bpmn:extensionElements><zeebe:calledDecision '
                                    'decisionId="approval" resultVariable="approver"/>'
                                    "</bpmn:extensionElements>",
                                condition='= approver = "director"')
    assert ready(run(source, {"amount": 1001})) == ["director"]


def test_without_a_result_variable_the_single_result_s_outputs_become_process_data():
    instance = run(routed_by_decision('camunda:decisionRef="approval"'), {"amount": 5000})
    assert instance.data["approver"] == "director" and ready(instance) == ["director"]


def test_the_default_mapping_is_the_result_list():
    source = routed_by_decision('camunda:decisionRef="approval" camunda:resultVariable="rows"',
                                condition='${rows[0].approver == "director"}')
    instance = run(source, {"amount": 5000})
    assert instance.data["rows"] == [{"approver": "director"}]


def test_a_decision_that_fails_puts_the_instance_in_error_at_the_task():
    clash = decision_table("approval", ["amount"], ["approver"], [
        (["> 10"], ['"a"']), (["> 100"], ['"b"'])])
    source = routed_by_decision('camunda:decisionRef="approval" camunda:resultVariable="approver" '
                                'camunda:mapDecisionResult="singleEntry"')
    [model] = load_processes(source, "routed.bpmn", decision_files=[("approval.dmn", clash)])
    instance = Instance.start(model, {"amount": 500})
    assert instance.status == ERROR
    assert instance.error.element_id == "decide"
    assert "rules 1, 2 all match, but the hit policy is UNIQUE" in str(instance.error)


@pytest.mark.parametrize("attributes,extension,message", [
    ('camunda:decisionRef="elsewhere" camunda:resultVariable="x" '
     'camunda:decisionRefBinding="deployment"', "",
     "routed.bpmn:8: decide: decision 'elsewhere' is not in the deployment: deploy its .dmn "
     "file together with the diagram (it has approval)"),
    ('camunda:decisionRef="${which}"', "", "must name a decision of the deployment, not an "
                                          "expression"),
    ('camunda:decisionRef="approval" camunda:mapDecisionResult="everything"', "",
     "camunda:mapDecisionResult 'everything' is not one of"),
    ('camunda:decisionRef="approval" camunda:decisionRefBinding="version"', "",
     "camunda:decisionRefBinding 'version'"),
    ("", '<bpmn:extensionElements><zeebe:calledDecision decisionId="approval"/>'
         "</bpmn:extensionElements>", "zeebe:calledDecision needs a resultVariable"),
])
def test_a_business_rule_task_that_cannot_decide_is_refused_at_deploy_time(attributes, extension,
                                                                            message):
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(routed_by_decision(attributes, extension), "routed.bpmn",
                       decision_files=[("approval.dmn", APPROVAL)])
    [problem] = refused.value.problems
    assert problem.element_id == "decide" and message in str(problem), str(problem)


def test_problems_of_the_dmn_files_are_reported_with_those_of_the_diagram():
    broken = APPROVAL.replace(b"&lt;= 1000", b"&lt;= [1000")
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(routed_by_decision('camunda:decisionRef="nowhere" '
                                          'camunda:mapDecisionResult="everything"'),
                       "routed.bpmn", decision_files=[("approval.dmn", broken)])
    # Which decisions exist is unknown while the DMN file is refused: not reported as missing.
    assert sorted((problem.file, problem.element_id) for problem in refused.value.problems) == [
        ("approval.dmn", "inputEntry_1_0"), ("routed.bpmn", "decide")]


def test_deployment_files_are_told_apart_by_name_else_by_their_root_element():
    from engine.decisions import is_dmn
    bpmn_naming_dmn = routed_by_decision("").replace(
        b"<bpmn:definitions ", b'<bpmn:definitions xmlns:dmn="https://www.omg.org/spec/DMN/20191111/MODEL/" ')
    assert is_dmn("table.xml", APPROVAL) and is_dmn("table.DMN", b"")
    assert not is_dmn("diagram.xml", bpmn_naming_dmn) and not is_dmn("diagram.bpmn", APPROVAL)
    assert not is_dmn("x.xml", b"<not xml") and not is_dmn("x.xml", b"")

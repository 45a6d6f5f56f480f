"""DMN decisions (1.1 to 1.5, as Camunda Modeler writes them): decision tables and literal
expressions, read from untrusted `.dmn` files and evaluated inside the sandbox.

Why not SpiffWorkflow.dmn: its parser takes one decision table per file and assumes
namespaces loosely; its engine knows the hit policies UNIQUE and COLLECT only, evaluates
cells as Python text (a `?` placeholder substituted with a regular expression, `==` added
when the text does not parse otherwise), so `"a","b"`, `[1..10]` or `not(...)` mean
nothing to it. DutyFlow reads the XML itself with the same hardened parser as BPMN
(engine.safe_xml), reports every problem as `file:line: element: message`, and evaluates
input expressions and output entries with engine.expressions (FEEL by default, JUEL where
a file says so) and input entries as FEEL unary tests compiled from the FEEL grammar, so a
decision is held to the same sandbox limits as any condition or script. Only the idea of a
business rule task whose run hook decides (engine.business_rules) comes from SpiffWorkflow.

Required decisions (`informationRequirement/requiredDecision`) are evaluated first; their
outputs are variables of the decision that requires them (one result: its entries; several:
each output name holds the list of its values), as in Camunda.
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree

from . import expressions, sandbox
from .errors import BpmnValidationError, Problem
from .expressions import feel_functions, feel_runtime
from .safe_xml import parse_safely

DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
    "https://www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
    "https://www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
}
HIT_POLICIES = ("UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER")
SINGLE_HIT = ("UNIQUE", "FIRST", "PRIORITY", "ANY")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
MAX_DMN_BYTES = 2 * 1024 * 1024
MAX_DECISIONS = 200
MAX_RULES = 5000
MAX_CLAUSES = 100
MAX_REQUIREMENT_DEPTH = 20
FEEL = expressions.Language.FEEL


class DecisionError(Exception):
    """A decision could not be made from these inputs (two rules of a UNIQUE table matched,
    an expression failed): the instance goes into error at the business rule task."""


@dataclass(frozen=True)
class InputClause:
    id: str
    label: str
    expression: str  # canonical text for engine.expressions.evaluate
    type_ref: str


@dataclass(frozen=True)
class OutputClause:
    id: str
    name: str
    type_ref: str
    values: str | None  # outputValues' text (`"high","low"`): the order PRIORITY ranks by


@dataclass(frozen=True)
class Rule:
    id: str
    number: int  # 1-based, as the modeler shows it
    tests: tuple[str, ...]  # FEEL unary tests per input ('' or '-' for any)
    outputs: tuple[str | None, ...]  # canonical expressions per output (None: null)


@dataclass(frozen=True)
class DecisionTable:
    hit_policy: str
    aggregation: str | None
    inputs: tuple[InputClause, ...]
    outputs: tuple[OutputClause, ...]
    rules: tuple[Rule, ...]

    @property
    def single_result(self) -> bool:
        """At most one result: a single-hit policy, or COLLECT with an aggregation."""
        return self.hit_policy in SINGLE_HIT or self.aggregation is not None


@dataclass(frozen=True)
class Decision:
    id: str
    name: str
    file: str
    line: int | None
    required: tuple[str, ...]
    table: DecisionTable | None = None
    literal: str | None = None  # a literal expression decision's canonical expression
    variable: str | None = None  # the name of a literal expression's result

    @property
    def single_result(self) -> bool:
        return self.table is None or self.table.single_result

    @property
    def single_output(self) -> bool:
        return self.table is None or len(self.table.outputs) == 1


Decisions = Mapping[str, Decision]


# ------------------------------------------------------------------------------ reading

def is_dmn(filename: str, source: bytes) -> bool:
    """Whether a file of a deployment is DMN: by its name (`.dmn`, `.bpmn`), else by the
    namespace of its root element (only the root is read, with the hardened settings)."""
    name = filename.lower()
    if name.endswith((".dmn", ".bpmn")):
        return name.endswith(".dmn")
    try:
        for _, root in etree.iterparse(io.BytesIO(source[:MAX_DMN_BYTES]), events=("start",),
                                       resolve_entities=False, no_network=True, load_dtd=False,
                                       huge_tree=False):
            return etree.QName(root).namespace in DMN_NAMESPACES
    except etree.XMLSyntaxError:
        pass
    return False


def load_decisions(files: Iterable[tuple[str, bytes]]) -> dict[str, Decision]:
    """Every decision of the deployment's DMN files, by id; BpmnValidationError lists every
    problem of every file (a decision id used twice, across files too)."""
    decisions: dict[str, Decision] = {}
    problems: list[Problem] = []
    for filename, source in files:
        try:
            found = _read_file(source, filename)
        except BpmnValidationError as err:
            problems.extend(err.problems)
            continue
        for decision in found:
            if decision.id in decisions:
                problems.append(Problem(filename, decision.line, decision.id,
                                        f"decision id {decision.id!r} is also in "
                                        f"{decisions[decision.id].file}"))
            else:
                decisions[decision.id] = decision
    for decision in decisions.values():
        for required in decision.required:
            if required not in decisions:
                problems.append(Problem(decision.file, decision.line, decision.id,
                                        f"required decision {required!r} is not in the "
                                        "deployment"))
    if not problems:
        problems = _cycles(decisions)
    if problems:
        raise BpmnValidationError(problems)
    return decisions


def _cycles(decisions: Decisions) -> list[Problem]:
    problems = []
    for decision in decisions.values():
        seen, frontier, depth = set(), set(decision.required), 0
        while frontier and decision.id not in frontier and depth <= MAX_REQUIREMENT_DEPTH:
            seen |= frontier
            frontier = {req for one in frontier for req in decisions[one].required} - seen
            depth += 1
        if decision.id in frontier:
            problems.append(Problem(decision.file, decision.line, decision.id,
                                    "the decision requires itself (a cycle of required "
                                    "decisions)"))
        elif frontier:
            problems.append(Problem(decision.file, decision.line, decision.id,
                                    f"required decisions nest deeper than "
                                    f"{MAX_REQUIREMENT_DEPTH}"))
    return problems


def _read_file(source: bytes, filename: str) -> list[Decision]:
    root = parse_safely(source, filename, MAX_DMN_BYTES)
    namespace = etree.QName(root).namespace
    if namespace not in DMN_NAMESPACES or etree.QName(root).localname != "definitions":
        raise BpmnValidationError([Problem(filename, root.sourceline, None,
                                           "the root element is not a DMN 1.1-1.5 definitions")])
    reader = _Reader(filename, namespace, expressions.declared_language(
        root.get("expressionLanguage")))
    elements = root.findall(reader.tag("decision"))
    if not elements:
        reader.report(root, "the file has no decision")
    if len(elements) > MAX_DECISIONS:
        reader.report(elements[MAX_DECISIONS], f"the file has {len(elements)} decisions; the "
                                               f"limit is {MAX_DECISIONS}")
        elements = elements[:MAX_DECISIONS]
    decisions = [decision for decision in map(reader.decision, elements) if decision]
    if reader.problems:
        raise BpmnValidationError(sorted(reader.problems, key=lambda p: (p.line or 0, p.message)))
    return decisions


class _Reader:
    def __init__(self, filename: str, namespace: str, language: expressions.Language | None):
        self.filename = filename
        self.namespace = namespace
        self.language = language  # the definitions' expressionLanguage, if it names one
        self.problems: list[Problem] = []

    def tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"

    def report(self, element: etree._Element, message: str, element_id: str | None = None) -> None:
        self.problems.append(Problem(self.filename, element.sourceline,
                                     element_id or _owner_id(element), message))

    def located(self, element: etree._Element) -> etree._Element:
        """Where an element's expression is written (its `text` child), for the line."""
        node = element.find(self.tag("text"))
        return node if node is not None else element

    def text(self, element: etree._Element | None) -> str:
        if element is None:
            return ""
        node = element.find(self.tag("text"))
        return (node.text or "") if node is not None else ""

    def decision(self, element: etree._Element) -> Decision | None:
        decision_id = (element.get("id") or "").strip()
        if not decision_id:
            self.report(element, "decision has no id (business rule tasks call it by id)")
            return None
        required = tuple((node.get("href") or "").strip().lstrip("#") for node in
                         element.iterfind(f"{self.tag('informationRequirement')}/"
                                          f"{self.tag('requiredDecision')}"))
        table = element.find(self.tag("decisionTable"))
        literal = element.find(self.tag("literalExpression"))
        common = dict(id=decision_id, name=element.get("name") or decision_id,
                      file=self.filename, line=element.sourceline, required=required)
        if table is not None:
            return Decision(**common, table=self.table(table))
        if literal is not None:
            variable = element.find(self.tag("variable"))
            name = (variable.get("name") if variable is not None else None) or decision_id
            return Decision(**common, literal=self.expression(literal, "literal expression"),
                            variable=name)
        self.report(element, "decision has neither a decision table nor a literal expression "
                             "(other DMN boxed expressions are not supported)")
        return None

    def table(self, element: etree._Element) -> DecisionTable:
        hit_policy = (element.get("hitPolicy") or "UNIQUE").strip().upper().replace("_", " ")
        if hit_policy not in HIT_POLICIES:
            self.report(element, f"hit policy {hit_policy!r} is not one of "
                                 f"{', '.join(HIT_POLICIES)}")
        aggregation = (element.get("aggregation") or "").strip().upper() or None
        if aggregation is not None and (hit_policy != "COLLECT" or aggregation not in AGGREGATIONS):
            self.report(element, f"aggregation {aggregation!r}: only COLLECT aggregates, with "
                                 f"{', '.join(AGGREGATIONS)}")
        inputs = tuple(self.input_clause(node) for node in element.findall(self.tag("input")))
        outputs = tuple(self.output_clause(node) for node in element.findall(self.tag("output")))
        rule_nodes = element.findall(self.tag("rule"))
        if len(inputs) > MAX_CLAUSES or len(outputs) > MAX_CLAUSES or len(rule_nodes) > MAX_RULES:
            self.report(element, f"the table has {len(inputs)} inputs, {len(outputs)} outputs and "
                                 f"{len(rule_nodes)} rules; the limits are {MAX_CLAUSES}, "
                                 f"{MAX_CLAUSES} and {MAX_RULES}")
            return DecisionTable(hit_policy, aggregation, (), (), ())
        if not outputs:
            self.report(element, "the table has no output")
        if len(outputs) > 1 and any(not output.name for output in outputs):
            self.report(element, "a table with several outputs needs a name on each output "
                                 "(the result's entries are named after them)")
        if aggregation and len(outputs) != 1:
            self.report(element, f"aggregation {aggregation} needs exactly one output")
        if hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(o.values for o in outputs):
            self.report(element, f"hit policy {hit_policy} ranks rules by the outputs' output "
                                 "values: give at least one output its list of values")
        rules = tuple(self.rule(node, number, len(inputs), len(outputs))
                      for number, node in enumerate(rule_nodes, 1))
        return DecisionTable(hit_policy, aggregation, inputs, outputs, rules)

    def input_clause(self, element: etree._Element) -> InputClause:
        node = element.find(self.tag("inputExpression"))
        expression = self.expression(node, "input expression") if node is not None else None
        if node is None:
            self.report(element, "input has no input expression")
        return InputClause(element.get("id") or "", element.get("label") or "",
                           expression or "=null",
                           (node.get("typeRef") if node is not None else None) or "")

    def output_clause(self, element: etree._Element) -> OutputClause:
        values = self.text(element.find(self.tag("outputValues"))).strip() or None
        if values is not None:
            self.check_feel(element, "output values", "=[" + values + "]")
        return OutputClause(element.get("id") or "", (element.get("name") or "").strip(),
                            element.get("typeRef") or "", values)

    def rule(self, element: etree._Element, number: int, inputs: int, outputs: int) -> Rule:
        rule_id = element.get("id") or f"rule {number}"
        entries = element.findall(self.tag("inputEntry"))
        results = element.findall(self.tag("outputEntry"))
        if len(entries) != inputs or len(results) != outputs:
            self.report(element, f"rule {number} has {len(entries)} input entries and "
                                 f"{len(results)} output entries; the table has {inputs} inputs "
                                 f"and {outputs} outputs", rule_id)
        tests = []
        for entry in entries:
            text = self.text(entry)
            declared = expressions.declared_language(entry.get("expressionLanguage"))
            if declared not in (None, FEEL):
                self.report(entry, f"input entries are FEEL unary tests, not {declared.value}")
            try:
                expressions.check_unary_tests(text)
            except sandbox.SandboxError as err:
                self.report(self.located(entry),
                            f"rule {number}: input entry {text.strip()!r}: {err}")
            tests.append(text.strip())
        values = tuple(self.expression(result, f"rule {number}: output entry", optional=True)
                       for result in results)
        return Rule(rule_id, number, tuple(tests), values)

    def expression(self, element: etree._Element, what: str, optional: bool = False) -> str | None:
        """The element's `text` as the canonical expression engine.expressions evaluates:
        FEEL unless the element or the file declares JUEL or Python (or writes `${...}`)."""
        written = self.text(element)
        if not written.strip():
            if not optional:
                self.report(element, f"{what} is empty")
            return None
        declared = expressions.declared_language(element.get("expressionLanguage")) \
            or self.language
        language = declared or (expressions.Language.JUEL if written.strip().startswith(
            ("${", "#{")) else FEEL)
        if language is FEEL:
            return self.check_feel(element, what, written)
        try:
            expressions.check(written, language)
        except sandbox.SandboxError as err:
            self.report(self.located(element),
                        f"{what} {written.strip()!r} ({language.value}): {err}")
            return None
        return expressions.canonical(written, language)

    def check_feel(self, element: etree._Element, what: str, written: str) -> str | None:
        canonical = expressions.canonical(written, FEEL)
        try:
            expressions.check(canonical, FEEL)
        except sandbox.SandboxError as err:
            self.report(self.located(element), f"{what} {written.strip()!r} (feel): {err}")
            return None
        return canonical


def _owner_id(element: etree._Element) -> str | None:
    """The id of the element, else of the nearest ancestor with one."""
    while element is not None:
        if element.get("id"):
            return element.get("id")
        element = element.getparent()
    return None


# ---------------------------------------------------------------------------- deciding

def decide(decisions: Decisions, decision_id: str, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The decision's results for these variables (Camunda's result list: one entry per
    matched rule, output name -> value), its required decisions made first. Runs the
    diagram's expressions: call it in a sandbox worker only. Raises DecisionError."""
    return _Deciding(decisions).results(decision_id, data)


class _Deciding:
    def __init__(self, decisions: Decisions):
        self.decisions = decisions

    def results(self, decision_id: str, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        decision = self.decisions[decision_id]
        scope = dict(data)
        for required in decision.required:
            scope.update(_as_variables(self.results(required, data)))
        try:
            if decision.table is None:
                return [{decision.variable: expressions.evaluate(decision.literal, scope)}]
            return self.table(decision, decision.table, scope)
        except sandbox.SandboxError as err:
            raise DecisionError(f"decision {decision.id!r}: {err}") from None

    def table(self, decision: Decision, table: DecisionTable,
              scope: dict[str, Any]) -> list[dict[str, Any]]:
        values = [_typed(expressions.evaluate(clause.expression, scope), clause.type_ref)
                  for clause in table.inputs]
        matched = []
        for rule in table.rules:
            try:
                if all(expressions.matches(test, value, scope)
                       for test, value in zip(rule.tests, values)):
                    matched.append(rule)
            except sandbox.SandboxError as err:
                raise DecisionError(f"decision {decision.id!r}, rule {rule.number}: {err}") \
                    from None
            if matched and table.hit_policy == "FIRST":
                break
        results = [(rule, self.outputs(decision, table, rule, scope)) for rule in matched]
        return _apply_policy(decision, table, results, self)

    def outputs(self, decision: Decision, table: DecisionTable, rule: Rule,
                scope: Mapping[str, Any]) -> dict[str, Any]:
        result = {}
        for clause, text in zip(table.outputs, rule.outputs):
            try:
                value = expressions.evaluate(text, scope) if text else None
            except sandbox.SandboxError as err:
                raise DecisionError(f"decision {decision.id!r}, rule {rule.number}: output "
                                    f"{clause.name or clause.id!r}: {err}") from None
            result[clause.name or clause.id] = _typed(value, clause.type_ref)
        return result

    def ranks(self, table: DecisionTable) -> list[list[Any]]:
        """Each output's output values in the order PRIORITY and OUTPUT ORDER rank by."""
        return [list(expressions.evaluate("=[" + clause.values + "]", {}))
                if clause.values else [] for clause in table.outputs]


def _apply_policy(decision: Decision, table: DecisionTable,
                  results: list[tuple[Rule, dict[str, Any]]], deciding: _Deciding
                  ) -> list[dict[str, Any]]:
    policy, numbers = table.hit_policy, [rule.number for rule, _ in results]
    if policy == "UNIQUE" and len(results) > 1:
        raise DecisionError(f"decision {decision.id!r}: rules {_listed(numbers)} all match, "
                            "but the hit policy is UNIQUE")
    if policy == "ANY" and any(not _same(output, results[0][1]) for _, output in results):
        raise DecisionError(f"decision {decision.id!r}: rules {_listed(numbers)} match with "
                            "different outputs, but the hit policy is ANY")
    if policy in ("PRIORITY", "OUTPUT ORDER") and results:
        ranks = deciding.ranks(table)
        results = sorted(results, key=lambda pair: [
            _rank(ranked, pair[1][clause.name or clause.id])
            for clause, ranked in zip(table.outputs, ranks)])
    outputs = [output for _, output in results]
    if policy in SINGLE_HIT:
        return outputs[:1]
    if table.aggregation:
        return _aggregate(decision, table, outputs)
    return outputs


def _aggregate(decision: Decision, table: DecisionTable,
               outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    clause = table.outputs[0]
    name = clause.name or clause.id
    values = [output[name] for output in outputs if output[name] is not None]
    if table.aggregation == "COUNT":
        return [{name: len(values)}]
    if not values:
        return []
    if not all(feel_runtime.is_number(value) for value in values) and table.aggregation == "SUM":
        raise DecisionError(f"decision {decision.id!r}: COLLECT SUM needs numbers, got "
                            f"{_listed(sorted({type(v).__name__ for v in values}))}")
    try:
        if table.aggregation == "SUM":
            total = sum(Decimal(str(value)) if isinstance(value, float) else value
                        for value in values)
            return [{name: total}]
        pick = min if table.aggregation == "MIN" else max
        return [{name: pick(values)}]
    except TypeError:
        raise DecisionError(f"decision {decision.id!r}: COLLECT {table.aggregation} needs "
                            "values that compare (all numbers, all text or all dates)") from None


def _rank(ranked: list[Any], value: Any) -> int:
    for index, candidate in enumerate(ranked):
        if feel_runtime.equal(candidate, value) is True:
            return index
    return len(ranked)


def _same(left: dict[str, Any], right: dict[str, Any]) -> bool:
    return left.keys() == right.keys() and all(
        feel_runtime.equal(left[key], right[key]) is True for key in left)


def _listed(items: Sequence[Any]) -> str:
    return ", ".join(map(str, items))


def _as_variables(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A required decision's results as variables of the decision requiring it."""
    if len(results) == 1:
        return dict(results[0])
    names = dict.fromkeys(name for result in results for name in result)
    return {name: [result.get(name) for result in results] for name in names}


def _typed(value: Any, type_ref: str) -> Any:
    """Text given for a date or date-time input or output becomes one (process data from
    forms and JSON holds dates as ISO text); everything else stays as it is."""
    kind = type_ref.strip().lower()
    if isinstance(value, str) and kind in ("date", "datetime", "date and time"):
        parsed = feel_functions.temporal(value)
        if isinstance(parsed, dt.date):
            return parsed
    return value


# ------------------------------------------------------------------- mapping the result

RESULT_MAPPINGS = ("resultList", "singleResult", "singleEntry", "collectEntries")


def map_result(decision: Decision, results: list[dict[str, Any]], mapping: str) -> Any:
    """Camunda 7's `camunda:mapDecisionResult` of the result list, or "zeebe": Camunda 8's
    result (a value or context; a list of them for tables with several results)."""
    if mapping == "zeebe":
        plain = [next(iter(result.values())) if decision.single_output and len(result) == 1
                 else result for result in results]
        if decision.single_result:
            return plain[0] if plain else None
        return plain
    if mapping == "resultList":
        return results
    if mapping in ("singleResult", "singleEntry") and len(results) > 1:
        raise DecisionError(f"decision {decision.id!r} gave {len(results)} results; "
                            f"mapDecisionResult {mapping} takes at most one")
    if mapping == "singleResult":
        return results[0] if results else None
    if any(len(result) > 1 for result in results):
        raise DecisionError(f"decision {decision.id!r} gives several outputs per result; "
                            f"mapDecisionResult {mapping} takes one")
    entries = [next(iter(result.values()), None) for result in results]
    if mapping == "singleEntry":
        return entries[0] if entries else None
    return entries

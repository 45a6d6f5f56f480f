"""Call activities into processes deployed from other files: each call starts a child instance.

A `callActivity` whose `calledElement` is a process of the same document stays what
SpiffWorkflow makes of it (a subworkflow inside the instance). One naming a process that
is not in the document is resolved by the services when the call happens (Camunda's
`camunda:calledElementBinding`: `latest`, the default; `deployment`; `version` with
`camunda:calledElementVersion`), and runs as an instance of its own: the task waits, like
an external worker's task (SpiffWorkflow's `manual`), until the child ends.

Variables cross by Camunda 7's `camunda:in` / `camunda:out` (`source`, `sourceExpression`,
`variables="all"`, and `businessKey` on the way in), or Camunda 8's
`zeebe:calledElement processId` with `propagateAllChildVariables` and `zeebe:ioMapping`
inputs and outputs (FEEL). Expressions are checked at deployment and evaluated in the
sandbox worker that runs the step, never in the service.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import expressions, sandbox

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
BINDINGS = ("latest", "deployment", "version")
INHERIT_BUSINESS_KEY = "processBusinessKey"

Report = Callable[[etree._Element, str], None]


@dataclass(frozen=True)
class VariableMapping:
    """One variable crossing: `source` a variable name or (`expression`) an expression's
    canonical text, read in the scope it leaves; `target` the name in the scope it enters."""

    source: str
    target: str
    expression: bool = False


@dataclass(frozen=True)
class CallSpec:
    """A call activity that starts a child instance of process `called`."""

    element_id: str
    name: str
    called: str
    binding: str = "latest"
    version: int | None = None
    line: int | None = None
    inputs: tuple[VariableMapping, ...] = ()
    outputs: tuple[VariableMapping, ...] = ()
    inputs_all: bool = False  # every variable of the caller goes in
    outputs_all: bool = False  # every variable of the child comes back
    # Expression for the child's business key; INHERIT_BUSINESS_KEY: the caller's own.
    business_key: str | None = None


def read_call_activities(process: etree._Element, local_processes: set[str], report: Report,
                         declared: expressions.Language | None = None) -> dict[str, CallSpec]:
    """The process's call activities into other files, by element id. Each becomes a plain
    task in `process` (the tree SpiffWorkflow compiles, not the stored file), which keeps
    its boundary events and multi-instance loop."""
    found = {}
    for task in process.iter(f"{{{BPMN_NS}}}callActivity"):
        spec = _read(task, report, declared)
        if spec is None or spec.called in local_processes:
            if spec is not None:
                task.set("calledElement", spec.called)  # a subworkflow SpiffWorkflow runs
            continue
        found[spec.element_id] = spec
        task.tag = f"{{{BPMN_NS}}}task"
        task.attrib.pop("calledElement", None)
    return found


def _read(task: etree._Element, report: Report,
          declared: expressions.Language | None) -> CallSpec | None:
    zeebe = task.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}calledElement")
    called = (zeebe.get("processId") if zeebe is not None else None) \
        or task.get("calledElement") or ""
    called = called.strip()
    if not called:
        report(task, "call activity names no process to call (calledElement, or "
                     "zeebe:calledElement processId)")
        return None
    if called.startswith(("=", "${", "#{")):
        report(task, f"called element {called!r}: an expression cannot name the process to "
                     "call here; name its process id")
        return None
    binding = (task.get(f"{{{CAMUNDA_NS}}}calledElementBinding") or "latest").strip()
    version = None
    if binding not in BINDINGS:
        report(task, f"camunda:calledElementBinding {binding!r} is not one of "
                     f"{', '.join(BINDINGS)}")
        return None
    if binding == "version":
        text = (task.get(f"{{{CAMUNDA_NS}}}calledElementVersion") or "").strip()
        if not text.isdigit() or int(text) < 1:
            report(task, f"camunda:calledElementVersion {text!r} must be a version number "
                         "(1, 2, ...) with binding \"version\"")
            return None
        version = int(text)
    common = dict(element_id=task.get("id"), name=task.get("name") or task.get("id"),
                  called=called, binding=binding, version=version, line=task.sourceline)
    if zeebe is not None:
        return _zeebe(task, zeebe, common, report)
    return _camunda(task, common, report, declared)


def _camunda(task: etree._Element, common: dict[str, Any], report: Report,
             declared: expressions.Language | None) -> CallSpec | None:
    inputs, outputs = [], []
    inputs_all = outputs_all = False
    business_key = None
    extensions = f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}"
    for kind, mappings in (("in", inputs), ("out", outputs)):
        for node in task.iterfind(extensions + kind):
            if (node.get("variables") or "").strip() == "all":
                if kind == "in":
                    inputs_all = True
                else:
                    outputs_all = True
                continue
            if kind == "in" and node.get("businessKey") is not None:
                text = node.get("businessKey").strip()
                business_key = INHERIT_BUSINESS_KEY if INHERIT_BUSINESS_KEY in text \
                    else _expression(task, node, text, "businessKey", report, declared)
                continue
            mapping = _camunda_mapping(task, node, kind, report, declared)
            if mapping is not None:
                mappings.append(mapping)
    return CallSpec(**common, inputs=tuple(inputs), outputs=tuple(outputs),
                    inputs_all=inputs_all, outputs_all=outputs_all, business_key=business_key)


def _camunda_mapping(task, node, kind, report, declared) -> VariableMapping | None:
    target = (node.get("target") or "").strip()
    source, expression = (node.get("source") or "").strip(), node.get("sourceExpression")
    if not _is_variable(target):
        report(task, f"camunda:{kind} needs a target naming a variable (line {node.sourceline})")
        return None
    if expression is not None:
        text = _expression(task, node, expression, f"camunda:{kind} sourceExpression", report,
                           declared)
        return VariableMapping(text, target, expression=True) if text else None
    if not _is_variable(source):
        report(task, f"camunda:{kind} needs a source naming a variable, a sourceExpression, "
                     f"variables=\"all\"{' or businessKey' if kind == 'in' else ''} "
                     f"(line {node.sourceline})")
        return None
    return VariableMapping(source, target)


def _zeebe(task, zeebe, common, report) -> CallSpec | None:
    inputs, outputs = [], []
    mapping = task.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}ioMapping")
    for kind, found in (("input", inputs), ("output", outputs)):
        for node in (mapping.iterfind(f"{{{ZEEBE_NS}}}{kind}") if mapping is not None else ()):
            target = (node.get("target") or "").strip()
            source = (node.get("source") or "").strip()
            if not _is_variable(target) or not source:
                report(task, f"zeebe:{kind} needs a source and a target naming a variable "
                             f"(line {node.sourceline})")
                continue
            text = _expression(task, node, source if source.startswith("=") else "=" + source,
                               f"zeebe:{kind} source", report, expressions.Language.FEEL)
            if text:
                found.append(VariableMapping(text, target, expression=True))
    # Camunda 8: the caller's variables all go in unless propagateAllParentVariables is
    # false; the child's all come back unless propagateAllChildVariables is false.
    return CallSpec(**common, inputs=tuple(inputs), outputs=tuple(outputs),
                    inputs_all=zeebe.get("propagateAllParentVariables", "true") != "false",
                    outputs_all=zeebe.get("propagateAllChildVariables", "true") != "false")


def _expression(task, node, text: str, what: str, report: Report,
                declared: expressions.Language | None) -> str | None:
    """The expression's canonical text (expressions.canonical), or None, reported."""
    try:
        language = expressions.check(text, declared)
    except sandbox.SandboxError as err:
        report(task, f"{what} {text.strip()!r}: {err} (line {node.sourceline})")
        return None
    return expressions.canonical(text, language)


def _is_variable(name: str) -> bool:
    return name.isidentifier() and not name.startswith("_")


def inputs_of(spec: CallSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """The child's start variables from the caller's data at the call (SandboxError when a
    mapping's expression fails)."""
    return _mapped(spec.inputs, spec.inputs_all, data)


def outputs_of(spec: CallSpec, child_data: Mapping[str, Any]) -> dict[str, Any]:
    """The variables the caller receives from the child's data at its end."""
    return _mapped(spec.outputs, spec.outputs_all, child_data)


def business_key_of(spec: CallSpec, data: Mapping[str, Any]) -> str | None:
    """The child's business key: evaluated, or INHERIT_BUSINESS_KEY (the services know the
    caller's), or None."""
    if spec.business_key in (None, INHERIT_BUSINESS_KEY):
        return spec.business_key
    value = expressions.evaluate(spec.business_key, data)
    return None if value is None else str(value)[:200]


def _mapped(mappings: tuple[VariableMapping, ...], everything: bool,
            data: Mapping[str, Any]) -> dict[str, Any]:
    result = {name: value for name, value in data.items() if _is_variable(str(name))} \
        if everything else {}
    for mapping in mappings:
        if mapping.expression:
            result[mapping.target] = expressions.evaluate(mapping.source, data)
        else:
            result[mapping.target] = data.get(mapping.source)
    return result

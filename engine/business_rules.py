"""Business rule tasks that call a DMN decision of their deployment (engine.decisions).

Camunda 7 writes `camunda:decisionRef="id"` with `camunda:resultVariable` and
`camunda:mapDecisionResult` (resultList, the default, singleResult, singleEntry or
collectEntries); Camunda 8 `<zeebe:calledDecision decisionId="id" resultVariable="x"/>`.
When the task is reached the decision is made from the process data, in the sandbox worker
running the step, with the decision of the deployment (`camunda:decisionRefBinding=
"deployment"`) or, as Camunda's default binding "latest" does for a decision the deployment
lacks, the latest deployed decision with that id (the service sends its file with the step;
none deployed: an incident), and its result is put in the process data for later gateways. A Camunda 7
task without a result variable puts the entries of the decision's single result in the
process data instead (more than one result is an error there).

SpiffWorkflow compiles these as plain tasks; the compiled spec then becomes a DecisionTask,
whose run hook decides (the idea of SpiffWorkflow.dmn's BusinessRuleTaskMixin).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import NoneTask

from . import sandbox
from .decisions import RESULT_MAPPINGS, DecisionError, Decisions, decide, map_result

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
_BINDINGS = ("", "latest", "deployment")

Report = Callable[[etree._Element, str], None]


@dataclass(frozen=True)
class DecisionCall:
    """What a business rule task decides and where the result goes."""

    element_id: str
    decision_id: str
    result_variable: str | None
    mapping: str  # one of decisions.RESULT_MAPPINGS, or "zeebe"
    binding: str = "latest"  # "deployment": only a decision deployed with the diagram


def calls_decision(task: etree._Element) -> bool:
    """Whether a business rule task names a decision (then it is not an external task)."""
    return bool((task.get(f"{{{CAMUNDA_NS}}}decisionRef") or "").strip()) or \
        task.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}calledDecision") is not None


def read_calls(process: etree._Element, decisions: Decisions | None, report: Report,
               is_variable: Callable[[str], bool], warn: Report | None = None
               ) -> dict[str, DecisionCall]:
    """The process's business rule tasks that call a decision, by element id; each becomes a
    plain task in `process`, the tree SpiffWorkflow compiles (not the stored file).
    `decisions` None: the deployment's DMN files were refused, so which decisions exist is
    not checked. A decision the deployment lacks is refused with the "deployment" binding,
    else `warn`ed about: it is looked up among the deployed decisions when the task runs."""
    calls = {}
    for task in process.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        if task.get(f"{{{CAMUNDA_NS}}}type") == "external" or not calls_decision(task):
            continue
        call = _read(task, report, is_variable)
        if call is None:
            continue
        if decisions is not None and call.decision_id not in decisions:
            others = f" (it has {', '.join(sorted(decisions))})" if decisions else ""
            if call.binding == "deployment" or warn is None:
                report(task, f"decision {call.decision_id!r} is not in the deployment: deploy "
                             f"its .dmn file together with the diagram{others}")
                continue
            warn(task, f"decision {call.decision_id!r} is not in the deployment{others}: the "
                       "latest deployed decision with that id is used when the task runs, "
                       "and with none deployed then the instance stops with an incident")
        calls[call.element_id] = call
        task.tag = f"{{{BPMN_NS}}}task"
    return calls


def missing(calls: Iterable[DecisionCall], decisions: Decisions) -> tuple[str, ...]:
    """The ids of called decisions the deployment lacks (found among deployed ones later)."""
    return tuple(sorted({call.decision_id for call in calls
                         if call.decision_id not in decisions}))


def _read(task: etree._Element, report: Report,
          is_variable: Callable[[str], bool]) -> DecisionCall | None:
    element_id = task.get("id")
    zeebe = task.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}calledDecision")
    if zeebe is not None:
        decision_id = (zeebe.get("decisionId") or "").strip()
        variable = (zeebe.get("resultVariable") or "").strip()
        if not decision_id or decision_id.startswith("="):
            report(task, "zeebe:calledDecision needs a decisionId naming a decision of the "
                         "deployment (an expression cannot be resolved at deploy time)")
            return None
        if not is_variable(variable):
            report(task, "zeebe:calledDecision needs a resultVariable: the name the result "
                         "goes under in process data")
            return None
        binding = (zeebe.get("bindingType") or "").strip()
        return DecisionCall(element_id, decision_id, variable, "zeebe",
                            "deployment" if binding == "deployment" else "latest")
    decision_id = (task.get(f"{{{CAMUNDA_NS}}}decisionRef") or "").strip()
    variable = (task.get(f"{{{CAMUNDA_NS}}}resultVariable") or "").strip() or None
    mapping = (task.get(f"{{{CAMUNDA_NS}}}mapDecisionResult") or "").strip() or "resultList"
    binding = (task.get(f"{{{CAMUNDA_NS}}}decisionRefBinding") or "").strip()
    problems = []
    if "${" in decision_id or "#{" in decision_id:
        problems.append("camunda:decisionRef must name a decision of the deployment, not an "
                        "expression")
    if mapping not in RESULT_MAPPINGS:
        problems.append(f"camunda:mapDecisionResult {mapping!r} is not one of "
                        f"{', '.join(RESULT_MAPPINGS)}")
    if variable is not None and not is_variable(variable):
        problems.append(f"camunda:resultVariable {variable!r} must be a name usable in "
                        "expressions")
    if binding not in _BINDINGS:
        problems.append(f"camunda:decisionRefBinding {binding!r}: only 'latest' (the latest "
                        "deployed decision with that id when the diagram's deployment lacks "
                        "it) or 'deployment' can be honoured")
    for problem in problems:
        report(task, problem)
    return None if problems else DecisionCall(element_id, decision_id, variable, mapping,
                                              binding or "latest")


class DecisionTask(NoneTask):
    """A compiled business rule task that makes its decision when it runs."""

    decision_call: DecisionCall
    decisions: Decisions

    def _run_hook(self, my_task: Any) -> bool:
        call = self.decision_call
        decision = self.decisions.get(call.decision_id)
        if decision is None:
            raise WorkflowTaskException(f"decision {call.decision_id!r} is not deployed: "
                                        "deploy a .dmn file holding it, then retry",
                                        task=my_task)
        try:
            result = map_result(decision, decide(self.decisions, call.decision_id, my_task.data),
                                call.mapping if call.result_variable else "singleResult")
        except (DecisionError, sandbox.SandboxError) as err:
            raise WorkflowTaskException(str(err), task=my_task) from None
        if call.result_variable:
            my_task.data[call.result_variable] = result
        elif result:
            my_task.data.update(result)
        return super()._run_hook(my_task)


def attach(specs: Iterable[Any], calls: dict[str, DecisionCall], decisions: Decisions,
           latest: Decisions | None = None) -> None:
    """Make the compiled specs of these elements decide when they run: with the decisions
    of the deployment, or for the "latest" binding with `latest` (the deployed decisions
    the deployment lacks) besides them."""
    found = {**(latest or {}), **decisions}
    for spec in specs:
        for task_spec in spec.task_specs.values():
            call = calls.get(getattr(task_spec, "bpmn_id", None))
            if call is not None and type(task_spec) is NoneTask:
                task_spec.__class__ = DecisionTask
                task_spec.manual = False  # a bpmn:task waits for a person; this one decides
                task_spec.decision_call = call
                task_spec.decisions = decisions if call.binding == "deployment" else found

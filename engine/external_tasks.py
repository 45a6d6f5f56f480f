"""Tasks a worker outside DutyFlow does: which elements they are and the topic each waits on.

Camunda 7 marks them `camunda:type="external"` with a `camunda:topic`; Camunda 8 gives a
`zeebe:taskDefinition` whose `type` is the job type (on a script task too: a script a job
worker runs). Java delegates (`camunda:class`,
`camunda:delegateExpression`, `camunda:expression`) and connectors cannot run here: they
wait as external tasks on a topic named after the class or expression, so a worker in
any language can take the duty over, and the deploy answer warns about each. Such a task
waits like a person's task (SpiffWorkflow's `manual`), until a worker completes it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask

from .business_rules import calls_decision
from .model import ExternalSpec

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
KINDS = ("serviceTask", "sendTask", "businessRuleTask", "scriptTask")
MAX_TOPIC_CHARS = 200
_DELEGATES = {"class": "Java class", "delegateExpression": "delegate expression",
              "expression": "expression"}

Report = Callable[[etree._Element, str], None]


def read_external(process: etree._Element, report: Report, warn: Report
                  ) -> dict[str, ExternalSpec]:
    """The process's external tasks by element id; `report` refuses a task that cannot
    wait for any worker, `warn` notes one that waits instead of running as drawn. Each
    becomes a plain service task in `process`, the tree SpiffWorkflow compiles."""
    found = {}
    for task in _candidates(process):
        topic = _topic(task, report, warn)
        if topic is None:
            continue
        if len(topic) > MAX_TOPIC_CHARS:
            report(task, f"the topic is {len(topic)} characters long; the limit is "
                         f"{MAX_TOPIC_CHARS}")
            continue
        element_id = task.get("id")
        found[element_id] = ExternalSpec(element_id, task.get("name") or element_id, topic)
        # SpiffWorkflow compiles a business rule task as a decision (and fails without
        # one); the tree it compiles from (not the stored file) says what it is here.
        task.tag = f"{{{BPMN_NS}}}serviceTask"
    return found


def wait_for_workers(specs: Iterable[Any], external: Iterable[str]) -> None:
    """Make the compiled specs of these elements wait instead of running (as a no-op).
    Of a multi-instance element, its instances wait; the loop around them runs on."""
    waiting = set(external)
    for spec in specs:
        for task_spec in spec.task_specs.values():
            # A multi-instance task's instances wait; the task around them, which shares
            # their element id, must run on when they are done (else it waits as one more).
            if getattr(task_spec, "bpmn_id", None) in waiting and \
                    not isinstance(task_spec, MultiInstanceTask):
                task_spec.manual = True


def _candidates(process: etree._Element):
    for kind in KINDS:
        yield from process.iter(f"{{{BPMN_NS}}}{kind}")


def _topic(task: etree._Element, report: Report, warn: Report) -> str | None:
    kind = etree.QName(task).localname
    if task.get(f"{{{CAMUNDA_NS}}}type") == "external":
        topic = (task.get(f"{{{CAMUNDA_NS}}}topic") or "").strip()
        if not topic:
            report(task, 'an external task (camunda:type="external") needs a camunda:topic')
            return None
        return topic
    definition = task.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}taskDefinition")
    if definition is not None:
        topic = (definition.get("type") or "").strip()
        if not topic:
            report(task, "zeebe:taskDefinition needs a type (the job type workers fetch)")
            return None
        return topic
    if kind == "businessRuleTask" and calls_decision(task):
        return None  # it decides (engine.business_rules)
    for attribute, what in _DELEGATES.items():
        value = (task.get(f"{{{CAMUNDA_NS}}}{attribute}") or "").strip()
        if value:
            warn(task, f"{what} {value!r} cannot run in DutyFlow: the task waits as an "
                       f"external task on topic {value!r} for a worker to complete it")
            return value
    connector = task.findtext(f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}connector/"
                              f"{{{CAMUNDA_NS}}}connectorId")
    if connector and connector.strip():
        warn(task, f"connector {connector.strip()!r} cannot run in DutyFlow: the task waits as "
                   f"an external task on topic {connector.strip()!r} for a worker to complete it")
        return connector.strip()
    if kind == "businessRuleTask":
        implementation = task.get("implementation")
        report(task, "a business rule task needs a decision to call (camunda:decisionRef or "
                     "zeebe:calledDecision, its .dmn file deployed with the diagram) or "
                     "camunda:type=\"external\" with a topic (a worker that decides)"
               + (f"; implementation {implementation!r} is not one DutyFlow runs"
                  if implementation else ""))
    return None

"""The SpiffWorkflow parser DutyFlow compiles with: Camunda's, with its gaps closed.

SpiffWorkflow's Camunda flavour reads `camunda:collection` / `camunda:elementVariable`
multi-instance only on the task kinds it overrides (user tasks, subprocesses, call
activities, plain tasks); script and service tasks keep the plain BPMN parser, which
refuses a Camunda multi-instance ("must specify a cardinality or a loop input data
reference"). Camunda runs both, one instance per item of the collection.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.specs.defaults import ScriptTask, ServiceTask
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser, ScriptTaskParser


class _CamundaScriptTaskParser(CamundaTaskParser, ScriptTaskParser):
    """A script task with Camunda's extensions (multi-instance over a collection)."""


class DutyFlowParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("scriptTask"): (_CamundaScriptTaskParser, ScriptTask),
        full_tag("serviceTask"): (CamundaTaskParser, ServiceTask),
    }

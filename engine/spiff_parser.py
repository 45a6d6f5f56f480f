"""The SpiffWorkflow parser DutyFlow compiles with: Camunda's, with its gaps closed.

SpiffWorkflow's Camunda flavour reads `camunda:collection` / `camunda:elementVariable`
multi-instance only on the task kinds it overrides (user tasks, subprocesses, call
activities, plain tasks); script and service tasks keep the plain BPMN parser, which
refuses a Camunda multi-instance ("must specify a cardinality or a loop input data
reference"). Camunda runs both, one instance per item of the collection.

SpiffWorkflow's start events read message, signal, timer and conditional definitions
only: an error or escalation start event (an event subprocess that handles an error or
escalation of its scope, as Camunda and the MIWG C.9 models draw it) would compile as a
plain start, and its handler would run at once as its scope starts. They are read here.

An event subprocess started by a message, signal, error or escalation is left out of its
scope until the event comes; SpiffWorkflow then adds it to the shared, compiled spec (so every later
instance of the version would start it at once). It is started with its scope instead,
waiting at its start event like one started by a timer (engine.runtime settles them).
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (CONDITIONAL_EVENT_XPATH, ERROR_EVENT_XPATH,
                                                     ESCALATION_EVENT_XPATH, MESSAGE_EVENT_XPATH,
                                                     SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH)
from SpiffWorkflow.bpmn.specs.defaults import ScriptTask, ServiceTask, StartEvent
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import CamundaStartEventParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser, ScriptTaskParser


class _CamundaScriptTaskParser(CamundaTaskParser, ScriptTaskParser):
    """A script task with Camunda's extensions (multi-instance over a collection)."""


class _StartEventParser(CamundaStartEventParser):
    """A start event with its error or escalation definition too (an event subprocess's)."""

    def create_task(self):
        definition = self.get_event_definition([
            MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH,
            ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH])
        task = self._create_task(definition)
        self.spec.start.connect(task)
        return task


class DutyFlowParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("scriptTask"): (_CamundaScriptTaskParser, ScriptTask),
        full_tag("serviceTask"): (CamundaTaskParser, ServiceTask),
        full_tag("startEvent"): (_StartEventParser, StartEvent),
    }


def start_event_subprocesses_with_their_scope(spec) -> None:
    """Connect the event subprocesses a message or signal starts to the scope's start,
    once, at load time (never at run time on the shared spec)."""
    start = spec.start
    for name in getattr(start, "trigger_specs", ()):
        task_spec = spec.task_specs[name]
        if start not in task_spec.inputs:
            start.connect(task_spec)
            task_spec.connect(spec.end)
    if hasattr(start, "trigger_specs"):
        start.trigger_specs = []

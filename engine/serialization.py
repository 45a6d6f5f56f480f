"""Instance state to plain JSON-ready dicts and back, without the process spec.

SpiffWorkflow's serializer embeds the whole spec in every instance (about 7 KB of a
fresh 12 KB document) and rebuilds it on every load. DutyFlow stores the BPMN once
per deployed version, so the state here holds only the task tree and data, and the
shared, already-compiled spec is attached on restore.
"""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (BpmnWorkflowConverter, TaskConverter,
                                                            WorkflowConverter)
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG as CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.event_definitions import \
    MessageEventDefinition as CamundaMessageEventDefinition

from .loader import MergedMessage
from .model import ProcessModel

STATE_FORMAT = 1


class _SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Converts a top-level workflow, leaving its spec to the deployed definition."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore(self, dct: dict[str, Any], model: ProcessModel, script_engine: Any) -> BpmnWorkflow:
        workflow = BpmnWorkflow(model.spec, model.subprocess_specs, script_engine=script_engine,
                                deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow


class _TypedDataTaskConverter(TaskConverter):
    """SpiffWorkflow converts a task's data through the registry when restoring it but not
    when dumping it, so a date a script stored would reach JSON as a raw datetime."""

    def to_dict(self, task: Any) -> dict[str, Any]:
        dct = super().to_dict(task)
        if dct["data"]:
            dct["data"] = self.registry.convert(dct["data"])
        if dct["delta"] and dct["delta"]["updates"]:
            dct["delta"]["updates"] = self.registry.convert(dct["delta"]["updates"])
        return dct


def _registry() -> DefaultRegistry:
    registry = DefaultRegistry()
    registry.register(Decimal, lambda value: {"value": str(value)}, lambda dct: Decimal(dct["value"]))
    registry.register(dt.date, lambda value: {"value": value.isoformat()},
                      lambda dct: dt.date.fromisoformat(dct["value"]))
    config = {cls: (_TypedDataTaskConverter if converter is TaskConverter else converter)
              for cls, converter in CAMUNDA_CONFIG.items()}
    # An event-based gateway keeps the events it has seen, definitions included, in the state.
    config[MergedMessage] = CAMUNDA_CONFIG[CamundaMessageEventDefinition]
    BpmnWorkflowSerializer.configure(config, registry)
    return registry


_REGISTRY = _registry()
_CONVERTER = _SpecFreeWorkflowConverter(BpmnWorkflow, _REGISTRY)


def dump_state(workflow: BpmnWorkflow) -> dict[str, Any]:
    return {"format": STATE_FORMAT, "workflow": _CONVERTER.to_dict(workflow)}


def restore_state(state: dict[str, Any], model: ProcessModel, script_engine: Any) -> BpmnWorkflow:
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"unsupported instance state format {state.get('format')!r}")
    # Restoring pops top-level keys (and subprocess keys): copy those, not the big task map.
    subprocesses = {key: _parents_first(value) for key, value
                    in copy.deepcopy(state["workflow"]["subprocesses"]).items()}
    workflow = dict(_parents_first(state["workflow"]), subprocesses=subprocesses)
    return _CONVERTER.restore(workflow, model, script_engine)


def _parents_first(workflow: dict[str, Any]) -> dict[str, Any]:
    """The workflow's tasks in tree order, each after its parent.

    SpiffWorkflow stores a task's data as a delta from its parent's and applies the delta
    only if the parent was restored before it (else the task's data is lost). Tasks are
    restored in the order of their keys, which PostgreSQL's jsonb does not keep: it sorts
    object keys, so the UUIDs come back in an order unrelated to the tree."""
    tasks = workflow["tasks"]
    ordered: dict[str, Any] = {}
    stack = [workflow["root"]]
    while stack:
        task_id = stack.pop()
        if task_id in ordered or task_id not in tasks:
            continue
        ordered[task_id] = tasks[task_id]
        stack.extend(reversed(tasks[task_id]["children"]))
    ordered.update((task_id, task) for task_id, task in tasks.items() if task_id not in ordered)
    return dict(workflow, tasks=ordered)

"""Data associations SpiffWorkflow cannot resolve, made to run as other engines run them.

SpiffWorkflow resolves a task's data input or output association only when its far end is
a `bpmn:dataObjectReference` (to a data object of the task's own process or the one around
it) or a reference to a data store it has an implementation for; anything else fails the
whole file ("Cannot resolve dataInputAssociation"). Tools write other ends: a process's
`ioSpecification` data inputs and outputs, a task's or process's `bpmn:property`, data
stores (a database drawn on the diagram). In DutyFlow, as in Camunda, every task sees the
process data by name, so those ends need no resolving:

- an end that names a process variable (a process data input or output, a property, a
  data object) whose name differs from the task's own data input or output is copied by
  name: before the task for an input, after it for an output;
- a data store is not kept by DutyFlow: its association is dropped with a warning;
- a task's own `ioSpecification` is dropped (Camunda ignores it; SpiffWorkflow would
  replace the task's data with only the declared inputs, keyed by element id) unless a
  multi-instance reads its loop data from it.

The rewriting is done on the tree SpiffWorkflow compiles; the stored file is untouched.
A data object reference whose data object does not exist is refused (SpiffWorkflow would
search for it without end).
"""
from __future__ import annotations

import copy
import keyword
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_SCOPES = ("process", "subProcess", "transaction", "adHocSubProcess")

Report = Callable[[etree._Element, str], None]


@dataclass
class NameCopy:
    """Copies one process variable to another name, for a task (SpiffWorkflow calls `get`
    before an input's task runs and `set` after an output's task has run)."""

    source: str
    bpmn_id: str  # the name copied to; SpiffWorkflow drops an input's copy after the task

    def get(self, my_task: Any) -> None:
        if self.source in my_task.data:
            my_task.data[self.bpmn_id] = copy.deepcopy(my_task.data[self.source])

    def set(self, my_task: Any) -> None:
        if self.source in my_task.data:
            my_task.data[self.bpmn_id] = copy.deepcopy(my_task.data[self.source])


Copies = dict[str, tuple[list[NameCopy], list[NameCopy]]]  # element id -> (inputs, outputs)


def rewrite(process: etree._Element, report: Report, warn: Report) -> Copies:
    """Make the process's data associations resolvable; return the copies by name to
    attach to the compiled task specs (see `attach`)."""
    root = process.getroottree().getroot()
    named = {element.get("id"): element for element in root.iter()
             if isinstance(element.tag, str) and element.get("id")}
    copies: Copies = {}
    for task in _tasks_with_data(process):
        inputs, outputs = [], []
        for association in list(task.iterfind(f"{{{BPMN_NS}}}dataInputAssociation")):
            target = _name_of(named.get(_text(association, "targetRef")))
            for source_ref in association.iterfind(f"{{{BPMN_NS}}}sourceRef"):
                far = _far_end(task, association, source_ref, named, report, warn)
                if far is not None and target and far != target:
                    inputs.append(NameCopy(far, target))
        for association in list(task.iterfind(f"{{{BPMN_NS}}}dataOutputAssociation")):
            source = _name_of(named.get(_text(association, "sourceRef")))
            target_ref = association.find(f"{{{BPMN_NS}}}targetRef")
            if target_ref is None:
                continue
            far = _far_end(task, association, target_ref, named, report, warn)
            if far is not None and source and far != source:
                outputs.append(NameCopy(source, far))
        if task.find(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics") is None:
            for io_spec in task.findall(f"{{{BPMN_NS}}}ioSpecification"):
                task.remove(io_spec)
        if inputs or outputs:
            copies[task.get("id")] = (inputs, outputs)
    return copies


def attach(specs: Iterable[Any], copies: Copies) -> None:
    """Give the compiled task specs their copies by name."""
    for spec in specs:
        for task_spec in spec.task_specs.values():
            found = copies.get(getattr(task_spec, "bpmn_id", None))
            if found:
                task_spec.data_input_associations = [*task_spec.data_input_associations,
                                                     *found[0]]
                task_spec.data_output_associations = [*task_spec.data_output_associations,
                                                      *found[1]]


def _far_end(task: etree._Element, association: etree._Element, ref: etree._Element,
             named: dict[str, etree._Element], report: Report, warn: Report) -> str | None:
    """The process variable at the association's far end when DutyFlow copies it by name;
    None when SpiffWorkflow resolves it (the reference stays) or it is dropped."""
    ref_id = (ref.text or "").strip()
    element = named.get(ref_id)
    kind = etree.QName(element).localname if element is not None else None
    if kind == "dataObjectReference":
        data_object = named.get(element.get("dataObjectRef") or "")
        if data_object is None or etree.QName(data_object).localname != "dataObject":
            report(task, f"data object reference {ref_id!r} names no bpmn:dataObject "
                         f"({element.get('dataObjectRef')!r})")
            return None
        if _spiff_resolves(task, data_object):
            return None
        _drop(ref, association)
        return _name_of(data_object)
    if kind in ("dataStoreReference", "dataStore"):
        store = named.get(element.get("dataStoreRef") or "") if kind == "dataStoreReference" \
            else element
        label = _label(store if store is not None else element)
        warn(task, f"data store {label!r} is not kept by DutyFlow: the task's association "
                   f"with it is ignored")
        _drop(ref, association)
        return None
    if element is None:
        report(task, f"data association {association.get('id')!r}: {ref_id!r} names no "
                     "element of this file")
        return None
    _drop(ref, association)
    return _name_of(element)


def _spiff_resolves(task: etree._Element, data_object: etree._Element) -> bool:
    """SpiffWorkflow finds a data object in the task's own scope or the one around it."""
    scopes = [ancestor for ancestor in task.iterancestors()
              if etree.QName(ancestor).localname in _SCOPES][:2]
    return data_object.getparent() in scopes


def _drop(ref: etree._Element, association: etree._Element) -> None:
    """Remove one end; the association goes when it has no far end left."""
    association.remove(ref)
    tag = "sourceRef" if etree.QName(ref).localname == "sourceRef" else "targetRef"
    if association.find(f"{{{BPMN_NS}}}{tag}") is None and association.getparent() is not None:
        association.getparent().remove(association)


def _tasks_with_data(process: etree._Element) -> list[etree._Element]:
    """The activities with data associations or their own ioSpecification, once each."""
    found: dict[int, etree._Element] = {}
    for kind in ("dataInputAssociation", "dataOutputAssociation", "ioSpecification"):
        for element in process.iter(f"{{{BPMN_NS}}}{kind}"):
            owner = element.getparent()
            if kind != "ioSpecification" or etree.QName(owner).localname not in _SCOPES:
                found.setdefault(id(owner), owner)
    return list(found.values())


def _text(element: etree._Element, child: str) -> str:
    return (element.findtext(f"{{{BPMN_NS}}}{child}") or "").strip()


def _label(element: etree._Element) -> str:
    return (element.get("name") or "").strip() or element.get("id") or "?"


def _name_of(element: etree._Element | None) -> str | None:
    """The process variable an end names: its `name` when usable in expressions."""
    if element is None:
        return None
    name = (element.get("name") or "").strip()
    usable = name.isidentifier() and not name.startswith("_") and not keyword.iskeyword(name)
    return name if usable else None


def drop_data_stores(root: etree._Element) -> None:
    """Remove data stores and their references from the tree SpiffWorkflow compiles (it
    refuses a data store it has no implementation for; their associations are gone)."""
    for kind in ("dataStore", "dataStoreReference"):
        for element in list(root.iter(f"{{{BPMN_NS}}}{kind}")):
            element.getparent().remove(element)

"""Waits DutyFlow can satisfy: a diagram that waits for something nothing can send is
refused at deploy time, with the element and line, instead of waiting for ever.

A message wait (receive task, or a catching start, intermediate or boundary event) needs
a `bpmn:message` with a name: `POST /api/v1/messages` and message throws correlate by it.
A signal wait needs a `bpmn:signal` with a name, for `POST /api/v1/signals`. Conditional
events wait for their condition (engine.conditional_events).
"""
from __future__ import annotations

from collections.abc import Callable

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_CATCHING = ("startEvent", "intermediateCatchEvent", "boundaryEvent")

Report = Callable[[etree._Element, str], None]


def check_waits(root: etree._Element, process: etree._Element, report: Report) -> None:
    messages = _names(root, "message")
    signals = _names(root, "signal")
    for task in process.iter(f"{{{BPMN_NS}}}receiveTask"):
        _check_ref(task, task.get("messageRef"), messages, "message", report)
    for kind in _CATCHING:
        for event in process.iter(f"{{{BPMN_NS}}}{kind}"):
            for definition in event:
                if not isinstance(definition.tag, str):
                    continue
                name = etree.QName(definition).localname
                if name == "messageEventDefinition":
                    _check_ref(event, definition.get("messageRef"), messages, "message", report)
                elif name == "signalEventDefinition":
                    _check_ref(event, definition.get("signalRef"), signals, "signal", report)


def _names(root: etree._Element, kind: str) -> dict[str, str]:
    """The root's bpmn:message (or bpmn:signal) names by id; blank when unnamed."""
    return {element.get("id"): (element.get("name") or "").strip()
            for element in root.iter(f"{{{BPMN_NS}}}{kind}") if element.get("id")}


def _check_ref(element: etree._Element, ref: str | None, named: dict[str, str], kind: str,
               report: Report) -> None:
    ref = (ref or "").strip()
    if not ref:
        report(element, f"this waits for a {kind} but names none ({kind}Ref): nothing could "
                         f"ever send it")
    elif ref not in named:
        report(element, f"{kind}Ref {ref!r} names no bpmn:{kind} of this file")
    elif not named[ref]:
        report(element, f"bpmn:{kind} {ref!r} has no name: a {kind} is sent by its name")

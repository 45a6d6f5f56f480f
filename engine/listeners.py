"""Camunda 7 execution and task listeners.

A listener whose `camunda:script` is Python, JavaScript or Groovy (engine.expressions.javascript, .groovy)
runs in the sandbox, like a script task, over
the process data: execution listeners on `start` (the element is entered) and `end` (it
is left), task listeners on `create` (the task becomes ready) and `complete`. A failing
script stops the instance with an incident at the element.

What cannot run here deploys with a warning (as Java delegates do, engine.external_tasks):
listeners given by `camunda:class`, `camunda:delegateExpression` or `camunda:expression`
(Java), scripts in other languages (`ruby`: scripts are sandboxed Python, JavaScript or
Groovy),
external script resources, and events DutyFlow has no moment for (`take` on a flow,
`assignment`, `update`, `delete`, `timeout`). Camunda 8's `zeebe:executionListener` and
`zeebe:taskListener` are jobs for workers, which DutyFlow hands out for tasks only
(engine.external_tasks): they are left out with a warning too. `dutyflow lint --strict`
refuses them.
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import hooks, sandbox
from .expressions import camunda_api, script_languages

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
PYTHON_FORMATS = ("python", "py", "python3")
# The moment each listener event runs at: when the element starts, or ends.
MOMENTS = {("executionListener", "start"): "start", ("executionListener", "end"): "end",
           ("taskListener", "create"): "start", ("taskListener", "complete"): "end"}
_JAVA = {"class": "Java class", "delegateExpression": "delegate expression",
         "expression": "expression"}

Report = Callable[[etree._Element, str, int | None], None]


@dataclass(frozen=True)
class Listener:
    element_id: str
    moment: str  # "start" or "end"
    script: str


def read_listeners(process: etree._Element, report: Report, warn: Report
                   ) -> dict[str, tuple[Listener, ...]]:
    """The Python listeners of the process's elements, by element id, in document order;
    `report` refuses a Python script that does not pass the sandbox, `warn` notes each
    listener that cannot run."""
    found: dict[str, list[Listener]] = {}
    for kind in ("executionListener", "taskListener"):
        for node in process.iter(f"{{{CAMUNDA_NS}}}{kind}"):
            owner = node.getparent().getparent()  # listener < extensionElements < element
            listener = _read(node, kind, owner, report, warn)
            if listener is not None:
                found.setdefault(listener.element_id, []).append(listener)
        for node in process.iter(f"{{{ZEEBE_NS}}}{kind}"):
            # listener < executionListeners (taskListeners) < extensionElements < element
            owner = node.getparent().getparent().getparent()
            warn(owner, f"zeebe:{kind} ({node.get('eventType')}) of job type "
                        f"{node.get('type')!r} is a job for a worker, which DutyFlow does not "
                        "hand out for listeners: the listener is left out", node.sourceline)
    return {element_id: tuple(listeners) for element_id, listeners in found.items()}


def _read(node: etree._Element, kind: str, owner: etree._Element, report: Report,
          warn: Report) -> Listener | None:
    what = "task listener" if kind == "taskListener" else "execution listener"
    event = (node.get("event") or "").strip()
    line = node.sourceline
    for attribute, java in _JAVA.items():
        value = (node.get(attribute) or "").strip()
        if value:
            warn(owner, f"{what} ({event}) with {java} {value!r} cannot run in DutyFlow and "
                        "is left out", line)
            return None
    script = node.find(f"{{{CAMUNDA_NS}}}script")
    if script is None:
        warn(owner, f"{what} ({event}) has nothing DutyFlow can run and is left out", line)
        return None
    script_format = (script.get("scriptFormat") or "").strip()
    translated = script_languages.for_format(script_format)
    if script_format.lower() not in PYTHON_FORMATS and translated is None:
        warn(owner, f"{what} ({event}): script format {script_format!r} is not supported "
                    "(scripts are sandboxed Python, JavaScript or Groovy); the listener is "
                    "left out",
             line)
        return None
    if script.get("resource"):
        warn(owner, f"{what} ({event}): a script resource cannot be read; the listener is "
                    "left out", line)
        return None
    moment = MOMENTS.get((kind, event))
    if moment is None or etree.QName(owner).localname == "sequenceFlow":
        warn(owner, f"{what} on event {event!r} has no moment in DutyFlow (listeners run on "
                    "start and end, task listeners on create and complete) and is left out",
             line)
        return None
    dedented = textwrap.dedent(script.text or "")
    source = dedented.strip("\n")
    first_line = script.sourceline + len(dedented) - len(dedented.lstrip("\n"))
    language = f" ({translated.name})" if translated else ""
    try:
        if translated is not None:
            translated.check_script(source)
        else:
            sandbox.check_script(source)
    except camunda_api.UnavailableApi as err:
        warn(owner, f"{what} ({event}) script{language}: {err}; the listener is left out",
             first_line + (err.line - 1 if err.line else 0))
        return None
    except sandbox.SandboxError as err:
        report(owner, f"{what} ({event}) script{language}: {err}",
               first_line + (err.line - 1 if err.line else 0))
        return None
    return Listener(owner.get("id"), moment,
                    translated.stored(source) if translated is not None else source)


def attach(specs: Iterable[Any], listeners: dict[str, tuple[Listener, ...]]) -> None:
    """Make the compiled specs of these elements run their listeners: start listeners as
    the element starts, end listeners as it completes (engine.hooks)."""
    if not listeners:
        return
    for spec in specs:
        for task_spec in spec.task_specs.values():
            found = listeners.get(getattr(task_spec, "bpmn_id", None))
            # A multi-instance's inner specs share the bpmn id: the outer one runs them.
            if not found or task_spec.name != task_spec.bpmn_id:
                continue
            starts = [listener.script for listener in found if listener.moment == "start"]
            ends = [listener.script for listener in found if listener.moment == "end"]
            if starts:
                hooks.on_start(task_spec, _running(starts), "listeners")
            if ends:
                hooks.on_end(task_spec, _running(ends))


def _running(scripts: list[str]) -> Callable[[Any], None]:
    def run(my_task: Any) -> None:
        for script in scripts:
            my_task.workflow.script_engine.execute(my_task, script)
    return run

"""Conditional events, as Camunda 7 runs them: a boundary, intermediate or event-subprocess
start event with `<bpmn:conditionalEventDefinition><bpmn:condition>${invoiceId != null}`
waits until its condition holds over the process data.

Camunda evaluates the condition when the wait begins and again whenever variables change;
DutyFlow does so after every step that moves the instance (a task completed, a worker's
result, a message, a timer, a retry), which is when its variables change (an admin's data
fix moves nothing: the retry after it does). The data is
the process's as of the latest step anywhere in the instance (a subprocess's work
included, as Camunda's variables are visible to the boundary events of the subprocess
they are set in). As in Camunda, a condition over a variable that is not set yet is
simply false; any other error in it is the step's error.

SpiffWorkflow would evaluate the condition only on the data the event had when it began
to wait, and fail the step on an unset variable: `Watched` leaves firing to
engine.runtime, which calls `due` with the live data.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition

from . import sandbox

# How each language's evaluator says a name is not set (JUEL, FEEL, Python, JavaScript).
_UNSET = re.compile(r"cannot resolve identifier|NameError: name '[^']*' is not defined|"
                    r"ReferenceError: \S+ is not defined")


class Watched(ConditionalEventDefinition):
    """Fires only when engine.runtime finds its condition true (`event_fired`)."""

    def has_fired(self, my_task) -> bool:
        return my_task._get_internal_data("event_fired", False)


def watch_in_place(spec) -> None:
    """Give the conditional events of `spec` the watched definition, at load time."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if type(definition) is ConditionalEventDefinition:
            definition.__class__ = Watched


def due(definition: Watched, data: dict[str, Any],
        evaluate: Callable[[str, dict[str, Any]], Any]) -> bool:
    """Whether the condition holds over `data`; False while it names an unset variable."""
    try:
        return bool(evaluate(definition.expression, data))
    except sandbox.SandboxError as err:
        if _UNSET.search(str(err)):
            return False
        raise

"""SpiffWorkflow's script engine, wired to DutyFlow's sandbox and expression languages.

SpiffWorkflow evaluates conditions, timers and multi-instance expressions through
`evaluate` and runs scripts through `execute`; both go through the sandbox here, and
expressions in the language their text shows (engine.expressions).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import expressions, sandbox
from .expressions import script_languages


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that evaluates and executes through this sandbox.

    It takes no environment globals: every name a snippet sees is task data, an external
    context name or a SAFE_BUILTINS entry.
    """

    def __init__(self) -> None:
        super().__init__()

    def evaluate(self, expression: str, context: Mapping[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        """In the expression's language; task data wins over external names (e.g. data
        objects) of the same name."""
        return expressions.evaluate(expression, context, external_context)

    def execute(self, script: str, context: dict,
                external_context: Mapping[str, Any] | None = None) -> bool:
        """External names are readable but never written back into `context`. A JavaScript
        or Groovy script (stored by the loader with its MARKER) writes only through
        execution.setVariable, and its value goes to its result variable if it has one."""
        language = script_languages.for_stored(script)
        if language is not None:
            value = language.run(script, context, dict(external_context or {}))
            variable = language.result_variable(script)
            if variable:
                context[variable] = value
            return True
        sandbox.execute(script, context, external_context)
        return True


class _SandboxScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose errors carry the sandbox's reason and line.

    SpiffWorkflow's own evaluate() reports only "Error evaluating expression '...'", and its
    script errors look for line numbers in frames that a sandbox.SandboxError's traceback lacks.
    """

    def validate(self, expression: str) -> None:
        expressions.check(expression)

    def evaluate(self, task: Any, expression: str,
                 external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            value = self.environment.evaluate(expression, task.data, external_context)
        except sandbox.SandboxError as err:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': {err}",
                                        task=task, exception=err, line_number=err.line) from err
        if value is None and _is_timer_of(task, expression):
            # SpiffWorkflow would fail reading null as ISO text, outside any incident.
            raise WorkflowTaskException(f"timer '{expression}' gave null: it needs a date, a "
                                        "duration or a cycle (is a variable it reads missing?)",
                                        task=task)
        return value

    def create_task_exec_exception(self, task: Any, script: str,
                                   err: Exception) -> WorkflowTaskException:
        if not isinstance(err, sandbox.SandboxError):
            return super().create_task_exec_exception(task, script, err)
        lines = script.splitlines()
        error_line = lines[err.line - 1] if err.line and err.line <= len(lines) else ""
        return WorkflowTaskException(str(err), task=task, exception=err, line_number=err.line,
                                     error_line=error_line)


def _is_timer_of(task: Any, expression: str) -> bool:
    """Whether `expression` is the timer of the event `task` waits at."""
    definition = getattr(task.task_spec, "event_definition", None)
    return isinstance(definition, TimerEventDefinition) and definition.expression == expression


def make_script_engine() -> PythonScriptEngine:
    """The script engine every DutyFlow workflow must run with."""
    return _SandboxScriptEngine(environment=SandboxEnvironment())

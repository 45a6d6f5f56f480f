"""Camunda 7's `execution` and `task` API as translated scripts (JavaScript, Groovy) call it:
which methods exist, how many arguments they take, and the javascript_runtime helper call
each becomes. One table for both languages, so they read and write process data alike."""
from __future__ import annotations

import ast

from engine import sandbox

from .parsing import ExpressionSyntaxError, helper

EXECUTION_METHODS = {"getVariable": 1, "getVariableLocal": 1, "setVariable": 2,
                     "setVariableLocal": 2, "hasVariable": 1, "hasVariableLocal": 1,
                     "removeVariable": 1, "removeVariableLocal": 1, "getVariables": 0,
                     "getVariablesLocal": 0, "getProcessBusinessKey": 0,
                     "getBusinessKey": 0, "getVariableTyped": 1}
# Task API a listener may call in Camunda that has no counterpart in DutyFlow's listeners.
UNAVAILABLE_TASK_METHODS = frozenset({"getAssignee", "setAssignee", "getName", "getId",
                                      "getOwner", "setOwner", "getPriority", "setPriority",
                                      "getDueDate", "setDueDate"})


class UnavailableApi(ExpressionSyntaxError):
    """A script calls Camunda API that DutyFlow has no counterpart for (task.setAssignee),
    or a JUEL expression a bean's method (`${userService.findManager(id)}`, Java code): a
    listener using it deploys left out with a warning, as Java listeners do, and so does
    such an assignee or candidateUsers where the task has another owner."""


def problem(owner: str, method: str, count: int) -> str | None:
    """Why `owner.method(...)` with `count` arguments cannot be translated, else None."""
    expected = EXECUTION_METHODS.get(method)
    if expected is None:
        return f"{owner}.{method}() is not available; use {owner}.getVariable/setVariable"
    if count != expected:
        return f"{owner}.{method}() takes {expected} argument{'' if expected == 1 else 's'}"
    return None


def translate(method: str, args: list[ast.expr]) -> ast.expr:
    """The helper call for a checked `execution.method(args)` (see `problem`)."""
    def load(name: str) -> ast.expr:
        return ast.Name(id=sandbox.GENERATED_PREFIX + name, ctx=ast.Load())

    def js(name: str, *call_args: ast.expr) -> ast.expr:
        return helper("js_" + name, *call_args)

    data, extra = load("data"), load("extra")
    base = method.removesuffix("Local")
    if base == "getVariable":
        return js("get_variable", data, extra, *args)
    if base == "getVariableTyped":
        return js("typed", js("get_variable", data, extra, *args))
    if base == "setVariable":
        return js("set_variable", data, *args)
    if base == "hasVariable":
        return js("has_variable", data, extra, *args)
    if base == "removeVariable":
        return js("remove_variable", data, *args)
    if base == "getVariables":
        return js("get_variables", data)
    return js("business_key", data, extra)

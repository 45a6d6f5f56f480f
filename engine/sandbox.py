"""A sandbox for the Python expressions and scripts that diagrams carry.

BPMN files are untrusted, and SpiffWorkflow would `eval`/`exec` their conditions,
timer expressions and scripts with task data as globals. Here source is parsed
first and refused unless it uses plain data, arithmetic, comparisons, control flow
and a small whitelist of functions: no imports, no names or attributes starting
with `_`, no frame or code objects, no formatting tricks. Size-amplifying
operators are routed through guards, and a tracer enforces a time limit.
"""
from __future__ import annotations

import ast
import copy
import datetime as dt
import re
import sys
import time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Mapping

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

TIME_LIMIT_SECONDS = 1.0
MAX_SOURCE_CHARS = 10_000
MAX_SEQUENCE_LENGTH = 100_000
MAX_INT_BITS = 16_000
MAX_EXPONENT = 1_000

_EL_WRAPPED = re.compile(r"^\$\{(.*)\}$", re.DOTALL)
_DENIED_ATTRIBUTES = {"format", "format_map", "mro", "ljust", "rjust", "center", "zfill",
                      "expandtabs", "translate", "maketrans"}
_DENIED_PREFIXES = ("_", "gi_", "f_", "tb_", "cr_", "ag_", "co_", "func_")
_ALLOWED_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.For,
                       ast.While, ast.Pass, ast.Break, ast.Continue, ast.Delete)
_REFUSED_NODES = {
    ast.Import: "imports are not allowed", ast.ImportFrom: "imports are not allowed",
    ast.Global: "global is not allowed", ast.Nonlocal: "nonlocal is not allowed",
    ast.Lambda: "lambda is not allowed", ast.FunctionDef: "function definitions are not allowed",
    ast.AsyncFunctionDef: "function definitions are not allowed",
    ast.ClassDef: "class definitions are not allowed", ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed", ast.Await: "await is not allowed",
    ast.Try: "try is not allowed", ast.Raise: "raise is not allowed", ast.With: "with is not allowed",
    ast.AsyncWith: "with is not allowed", ast.AsyncFor: "async is not allowed",
    ast.NamedExpr: "the walrus operator is not allowed",
}


class SandboxError(Exception):
    """A refused or failed expression or script; the message is meant for a designer."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


def unwrap(source: str) -> str:
    """Strip Camunda's `${...}` wrapper, as Camunda Modeler users write conditions."""
    stripped = (source or "").strip()
    wrapped = _EL_WRAPPED.match(stripped)
    return wrapped.group(1).strip() if wrapped else stripped


def check_expression(source: str) -> None:
    _compiled(unwrap(source), "eval")


def check_script(source: str) -> None:
    _compiled(source, "exec")


def evaluate(source: str, data: Mapping[str, Any]) -> Any:
    code = _compiled(unwrap(source), "eval")
    return _run(code, _namespace(data))


def execute(source: str, data: dict) -> None:
    """Run a script over a copy of `data`; write back top-level variables only on success."""
    code = _compiled(source, "exec")
    namespace = _namespace(copy.deepcopy(dict(data)))
    _run(code, namespace)
    result = {name: value for name, value in namespace.items() if name not in _INJECTED}
    for name, value in result.items():
        result[name] = _plain(value, name)
    data.clear()
    data.update(result)


class _Guards(ast.NodeTransformer):
    """Route `*`, `**` and `<<` through size guards; refuse everything not allowed."""

    def __init__(self):
        self.problem: tuple[str, int | None] | None = None

    def refuse(self, node: ast.AST, message: str) -> ast.AST:
        if self.problem is None:
            self.problem = (message, getattr(node, "lineno", None))
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for kind, message in _REFUSED_NODES.items():
            if isinstance(node, kind):
                return self.refuse(node, message)
        if isinstance(node, ast.stmt) and not isinstance(node, _ALLOWED_STATEMENTS):
            return self.refuse(node, f"{type(node).__name__} statements are not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            return self.refuse(node, f"name {node.id!r} is not allowed")
        if isinstance(node, ast.Attribute) and (node.attr in _DENIED_ATTRIBUTES
                                                or node.attr.startswith(_DENIED_PREFIXES)):
            return self.refuse(node, f"attribute {node.attr!r} is not allowed")
        if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
            return self.refuse(node, f"keyword {node.arg!r} is not allowed")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            return self.refuse(node, "format specifications in f-strings are not allowed")
        return super().generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.generic_visit(node)
        guard = _GUARD_NAMES.get(type(node.op))
        if guard is None:
            return node
        return ast.copy_location(ast.Call(ast.Name(guard, ast.Load()), [node.left, node.right], []),
                                 node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        node = self.generic_visit(node)
        guard = _GUARD_NAMES.get(type(node.op))
        if guard is None or not isinstance(node.target, ast.Name):
            return node
        value = ast.Call(ast.Name(guard, ast.Load()),
                         [ast.Name(node.target.id, ast.Load()), node.value], [])
        return ast.copy_location(ast.Assign([ast.Name(node.target.id, ast.Store())], value), node)


@lru_cache(maxsize=2048)
def _compiled(source: str, mode: str):
    if len(source) > MAX_SOURCE_CHARS:
        raise SandboxError(f"source is longer than {MAX_SOURCE_CHARS} characters")
    if not source.strip():
        raise SandboxError("empty expression" if mode == "eval" else "empty script")
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as err:
        raise SandboxError(f"syntax error: {err.msg}", err.lineno) from None
    guards = _Guards()
    tree = guards.visit(tree)
    if guards.problem:
        raise SandboxError(*guards.problem)
    ast.fix_missing_locations(tree)
    return compile(tree, "<diagram>", mode)


def _too_long(value: Any, times: Any) -> bool:
    return isinstance(times, int) and isinstance(value, (str, bytes, list, tuple)) \
        and len(value) * max(times, 0) > MAX_SEQUENCE_LENGTH


def _guarded_mul(left: Any, right: Any) -> Any:
    if _too_long(left, right) or _too_long(right, left):
        raise SandboxError(f"result would exceed {MAX_SEQUENCE_LENGTH} items")
    if isinstance(left, int) and isinstance(right, int) and \
            left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise SandboxError("integer result is too large")
    return left * right


def _guarded_pow(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, int) and isinstance(base, int) and abs(base) > 1 and \
            (abs(exponent) > MAX_EXPONENT or base.bit_length() * abs(exponent) > MAX_INT_BITS):
        raise SandboxError("power result is too large")
    if isinstance(base, Decimal) or isinstance(exponent, Decimal):
        if abs(Decimal(exponent)) > MAX_EXPONENT:
            raise SandboxError("power result is too large")
    return base ** exponent


def _guarded_lshift(value: Any, bits: Any) -> Any:
    if isinstance(bits, int) and bits > MAX_INT_BITS:
        raise SandboxError("shifted integer is too large")
    return value << bits


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_SEQUENCE_LENGTH:
        raise SandboxError(f"range longer than {MAX_SEQUENCE_LENGTH} items")
    return result


_GUARD_NAMES = {ast.Mult: "_df_mul", ast.Pow: "_df_pow", ast.LShift: "_df_lshift"}
_INJECTED_VALUES = {"_df_mul": _guarded_mul, "_df_pow": _guarded_pow,
                    "_df_lshift": _guarded_lshift}
SAFE_BUILTINS = {
    "abs": abs, "min": min, "max": max, "round": round, "len": len, "sum": sum,
    "sorted": sorted, "any": any, "all": all, "int": int, "float": float, "str": str,
    "bool": bool, "list": list, "dict": dict, "set": set, "tuple": tuple, "enumerate": enumerate,
    "zip": zip, "reversed": reversed, "range": _bounded_range, "True": True, "False": False,
    "None": None, "Decimal": Decimal, "date": dt.date, "datetime": dt.datetime,
    "timedelta": dt.timedelta,
}
_INJECTED = {"__builtins__", *_INJECTED_VALUES}


def _namespace(data: Mapping[str, Any]) -> dict[str, Any]:
    namespace = dict(data)
    namespace.update(_INJECTED_VALUES)
    namespace["__builtins__"] = SAFE_BUILTINS
    return namespace


def _run(code, namespace: dict[str, Any]) -> Any:
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    previous = sys.gettrace()

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise SandboxError(f"time limit of {TIME_LIMIT_SECONDS} s exceeded")
        return tracer

    sys.settrace(tracer)
    try:
        return eval(code, namespace)  # noqa: S307 - the code object passed the checks above
    except SandboxError:
        raise
    except Exception as err:
        line = _user_line(err)
        raise SandboxError(f"{type(err).__name__}: {err}", line) from None
    finally:
        sys.settrace(previous)


def _user_line(err: Exception) -> int | None:
    tb = err.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<diagram>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _plain(value: Any, name: str) -> Any:
    """Process data must stay plain, storable data; tuples become lists."""
    if value is None or isinstance(value, (bool, int, float, str, Decimal, dt.date)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, name) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(item, name) for key, item in value.items()}
    raise SandboxError(f"variable {name!r} holds a {type(value).__name__}, which is not plain data")


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow's script environment, with every evaluation going through the sandbox."""

    def evaluate(self, expression, context, external_context=None):
        return evaluate(expression, {**(external_context or {}), **context})

    def execute(self, script, context, external_context=None):
        external = external_context or {}
        scratch = {**external, **context}
        execute(script, scratch)
        for name in list(context):
            if name not in scratch:
                del context[name]
        context.update({name: value for name, value in scratch.items()
                        if name not in external or name in context})
        return True


class _SandboxedScriptEngine(PythonScriptEngine):
    def validate(self, expression):
        check_expression(expression)


def make_script_engine() -> PythonScriptEngine:
    return _SandboxedScriptEngine(environment=SandboxEnvironment())

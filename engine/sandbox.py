"""Sandbox for the Python snippets in BPMN diagrams: gateway conditions, timer expressions, scripts.

Diagrams are uploaded by users, so their snippets are untrusted. SpiffWorkflow would `eval`/`exec`
them with task data as globals, where `__import__('os')` simply works. Here they run under layers
that each cover what the others cannot:

1. A static allowlist of syntax (no imports, definitions, try, with...), no names, keywords or
   attributes starting with `_`, and a denylist of attributes that reach interpreter internals or
   inflate sizes. Refusals happen before anything runs.
2. A rewrite of the operators and methods that can build a huge object in one C call (`*`, `**`,
   `<<`, `+`, `%`, `join`, `replace`...) into calls of guarded helpers.
3. A handful of builtins. Those whose C code compares, hashes or prints whole structures measure
   their arguments first: aliasing (`a = [a, a]`) lets a structure's logical size double per step
   while its memory stays small, and no trace function can interrupt C code walking it.
4. A trace function that checks a deadline on every opcode and the process's peak memory every
   millisecond, because 2 and 3 only bound single operations, not how many run.
5. Only plain data (JSON-like, plus Decimal and dates) may leave a script.

JUEL and FEEL expressions (engine/expressions) are translated into Python expression trees
that pass the same layers: `compile_translated` applies 1 and 2, `evaluate_translated` 4 and 5,
and their runtime helpers measure values as 3 does.

The interpreter itself is shared with the service, so this is defence in depth rather than
isolation; a hard guarantee would need a separate process with OS limits.
"""
from __future__ import annotations

import ast
import copy
import decimal
import functools
import operator
import resource
import sys
import time
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


TIME_LIMIT_SECONDS = 1.0
MAX_MEMORY_BYTES = 256 * 2**20          # growth of the process's memory during one run
MAX_SOURCE_CHARS = 10_000
MAX_SEQUENCE_LENGTH = 100_000           # items or characters one operator or method may produce
MAX_INT_BITS = 14_300                   # ~4300 decimal digits, CPython's own int<->str limit
MAX_VALUE_SIZE = 1_000_000              # approx. repr characters of a value compared/hashed/printed
MAX_DATA_SIZE = 5_000_000               # approx. repr characters of task data after a script
MAX_NESTING_DEPTH = 100
MAX_FORMAT_CHARS = 1_000                # strftime formats and strptime inputs
MAX_MESSAGE_CHARS = 300
MEMORY_CHECK_SECONDS = 0.001

_SOURCE_NAME = "<sandbox>"
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024   # ru_maxrss is bytes on macOS, KiB on Linux
_PAGE_SIZE = resource.getpagesize()
# A fixed context: the thread's own one could carry a huge precision set by other code.
_DECIMAL_CONTEXT = decimal.Context(
    prec=28, rounding=decimal.ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999, capitals=1, clamp=0,
    flags=[], traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


class SandboxError(Exception):
    """Refused or failed expression/script.

    str(err) is one line for a user, prefixed with "line N: " when the line is known;
    `.line` is that 1-based line (or None) and `.reason` the message without the prefix.
    """

    def __init__(self, reason: str, line: int | None = None):
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)

    def at_line(self, line: int | None) -> SandboxError:
        """The same refusal located at another line (errors are raised before they are located)."""
        return type(self)(self.reason, line)


class SandboxSyntaxError(SandboxError, SyntaxError):
    """A snippet that does not parse. Also a SyntaxError because SpiffWorkflow's DMN engine calls
    `validate` and catches SyntaxError to decide whether a cell like `> 5` needs an operand."""


# ---------------------------------------------------------------------------- source handling

def unwrap(source: str) -> str:
    """Strip one surrounding `${ ... }`, as Camunda Modeler users write conditions."""
    return _locate_body(source)[0]


def wrapped_body(source: str) -> str | None:
    """The text inside `${...}` as written (not stripped), or None when `source` is not
    one `${...}`: the single definition of Camunda's expression wrapper."""
    text = source.strip()
    return text[2:-1] if text.startswith("${") and text.endswith("}") else None


def _locate_body(source: str) -> tuple[str, int]:
    """The expression inside an optional `${...}`, and how many lines of `source` precede it,
    so that errors can name lines of what the user wrote."""
    body = source.strip()
    lines_before = _leading_newlines(source)
    inner = wrapped_body(source)
    if inner is not None:
        lines_before += _leading_newlines(inner)
        body = inner.strip()
    return body, lines_before


def _leading_newlines(text: str) -> int:
    return text[:len(text) - len(text.lstrip())].count("\n")


def check_expression(source: str) -> None:
    """Raise SandboxError if `source` (optionally in `${...}`) is not an allowed expression."""
    body, lines_before = _locate_body(source)
    try:
        _compile(body, "eval")
    except SandboxError as err:
        raise _shifted(err, lines_before) from err.__cause__


def check_script(source: str) -> None:
    """Raise SandboxError if `source` is not an allowed script."""
    _compile(source, "exec")


def _shifted(err: SandboxError, lines: int) -> SandboxError:
    return err.at_line(err.line + lines) if lines and err.line is not None else err


@functools.lru_cache(maxsize=1024)
def _compile(source: str, mode: str) -> types.CodeType:
    """Parse, check and rewrite a snippet; cached because conditions are evaluated constantly."""
    if len(source) > MAX_SOURCE_CHARS:
        raise SandboxError(f"source is longer than {MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(source, filename=_SOURCE_NAME, mode=mode)
    except SyntaxError as err:
        raise SandboxSyntaxError(f"{type(err).__name__}: {err.msg}", err.lineno) from None
    except (RecursionError, MemoryError):
        raise SandboxSyntaxError("source is nested too deeply") from None
    _check_tree(tree, expression=mode == "eval")
    try:
        return compile(ast.fix_missing_locations(_Rewriter().visit(tree)), _SOURCE_NAME, mode)
    except (RecursionError, MemoryError):
        raise SandboxError("source is nested too deeply") from None


# ------------------------------------------------------------------------------ static checks

_ALLOWED_NODES = (
    ast.Module, ast.Expression, ast.Expr, ast.Assign, ast.AugAssign, ast.For, ast.While, ast.If,
    ast.Break, ast.Continue, ast.Pass, ast.Delete,
    ast.BoolOp, ast.NamedExpr, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.Set, ast.List,
    ast.Tuple, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
    ast.Compare, ast.Call, ast.keyword, ast.JoinedStr, ast.FormattedValue, ast.Constant,
    ast.Attribute, ast.Subscript, ast.Slice, ast.Starred, ast.Name,
    ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop,
)
_NODE_NAMES = {
    ast.Import: "import", ast.ImportFrom: "import", ast.Lambda: "lambda", ast.FunctionDef: "def",
    ast.AsyncFunctionDef: "async def", ast.ClassDef: "class", ast.Return: "return",
    ast.Try: "try", ast.TryStar: "try", ast.Raise: "raise", ast.Assert: "assert",
    ast.With: "with", ast.AsyncWith: "async with", ast.AsyncFor: "async for", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield from", ast.Global: "global",
    ast.Nonlocal: "nonlocal", ast.Match: "match", ast.AnnAssign: "annotated assignment",
}
# Attributes that reach interpreter internals (format strings can read attributes, mro() lists
# classes, gi_frame & co. lead to frames and their globals) or that pad or repeat a value to a
# caller-chosen size inside one C call.
_DENIED_ATTRIBUTES = frozenset({
    "format", "format_map", "mro", "ljust", "rjust", "center", "zfill", "expandtabs", "translate",
    "to_bytes", "from_bytes", "as_integer_ratio",
})
_DENIED_PREFIXES = ("_", "gi_", "f_", "tb_", "cr_", "ag_", "co_", "func_")
# An expression must not change the task data it reads, and these are the only ways it could.
_MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update",
    "setdefault", "popitem", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update",
})


def _check_tree(tree: ast.AST, expression: bool, generated: bool = False) -> None:
    """Refuse the first problem in reading order: in `().__class__.__base__` that is
    `__class__` (its node ends first), in `lambda: 1` the lambda rather than its arguments
    (which have no position of their own, so they take their parent's, and parents win ties)."""
    found = []
    pending: list[tuple[ast.AST, tuple[int, ...]]] = [(tree, (0, 0, 0, 0, 0))]
    while pending:
        node, parent_position = pending.pop()
        position = parent_position[:4] + (parent_position[4] + 1,)
        if hasattr(node, "lineno"):
            position = (node.lineno, node.col_offset, node.end_lineno or 0,
                        node.end_col_offset or 0, position[4])
        problem = _problem(node, expression, generated)
        if problem:
            found.append((position, problem))
        pending.extend((child, position) for child in ast.iter_child_nodes(node))
    if found:
        position, problem = min(found)
        raise SandboxError(problem, position[0] or None)


def _problem(node: ast.AST, expression: bool, generated: bool = False) -> str | None:
    if not isinstance(node, _ALLOWED_NODES):
        return f"{_NODE_NAMES.get(type(node), type(node).__name__)} is not allowed"
    if isinstance(node, ast.Name) and node.id.startswith("_") and node.id != "_" and not (
            generated and node.id.startswith(GENERATED_PREFIX)):
        return f"name '{node.id}' is not allowed"  # a lone `_` is a throwaway loop variable
    if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
        return f"keyword argument '{node.arg}' is not allowed"
    if isinstance(node, ast.Attribute):
        return _attribute_problem(node, expression)
    if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
            and any(isinstance(part, ast.Slice) for part in ast.walk(node.slice))):
        return "assigning to a slice is not allowed"  # a[:0] = a would grow a list unchecked
    if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        return "format specifications in f-strings are not allowed"  # f'{x:>999999999}'
    if isinstance(node, ast.comprehension) and node.is_async:
        return "async comprehensions are not allowed"
    return None


def _attribute_problem(node: ast.Attribute, expression: bool) -> str | None:
    name = node.attr
    if name in _DENIED_ATTRIBUTES or name.startswith(_DENIED_PREFIXES):
        return f"attribute '{name}' is not allowed"
    if not isinstance(node.ctx, ast.Load):
        return "assigning to or deleting an attribute is not allowed"
    if expression and name in _MUTATING_METHODS:
        return f"method '{name}' changes data, which an expression must not do"
    return None


# -------------------------------------------------------------------------------- rewriting

def _call(helper: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=args, keywords=[])
    return ast.copy_location(call, like)


_ELEMENTWISE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_MEMBERSHIP = (ast.In, ast.NotIn)


def _operand_helper(op_before: ast.cmpop | None, op_after: ast.cmpop | None) -> str | None:
    """The measuring helper a comparison operand needs, given the operators around it.

    Elementwise comparisons and the needle of `in` can recurse through the whole value. The
    haystack of `in` only costs more than the needle when it is a list or tuple, whose items
    are compared one by one; measuring sets and dicts would make every lookup linear.
    """
    if isinstance(op_after, _MEMBERSHIP) or any(isinstance(op, _ELEMENTWISE)
                                                for op in (op_before, op_after)):
        return "_sandbox_bounded"
    if isinstance(op_before, _MEMBERSHIP):
        return "_sandbox_bounded_sequence"
    return None


class _Rewriter(ast.NodeTransformer):
    """Route every size-amplifying or structure-walking operation through a guarded helper.

    The helpers live in the globals under `_sandbox_*` names, which user code cannot spell
    because names starting with `_` are refused before this runs.
    """

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        guarded = _GUARDED_OPERATORS.get(type(node.op))
        if guarded is None:
            return node
        return _call(f"_sandbox_{guarded[0]}", [node.left, node.right], node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        guarded = _GUARDED_OPERATORS.get(type(node.op))
        if guarded is None:
            return node
        helper = f"_sandbox_i{guarded[0]}"
        target = node.target
        if isinstance(target, ast.Name):
            value = _call(helper, [ast.Name(id=target.id, ctx=ast.Load()), node.value], node)
            return ast.copy_location(ast.Assign(targets=[target], value=value), node)
        # a[k] op= v: one helper call evaluates a and k once, as Python does.
        args = [target.value, target.slice, ast.Name(id=helper, ctx=ast.Load()), node.value]
        return ast.copy_location(ast.Expr(_call("_sandbox_augment_item", args, node)), node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        ops: list[ast.cmpop | None] = [None, *node.ops, None]
        for index, operand in enumerate(operands):
            helper = _operand_helper(ops[index], ops[index + 1])
            if helper and not isinstance(operand, ast.Constant):
                operands[index] = _call(helper, [operand], operand)
        node.left, node.comparators = operands[0], operands[1:]
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):  # {*items} hashes every item in C
            node.value = _call("_sandbox_bounded", [node.value], node.value)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        node.value = _call("_sandbox_bounded", [node.value], node.value)
        return node

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        self.generic_visit(node)
        # Tuples are hashable, and hashing one recurses in C without a recursion check, so every
        # tuple is measured when made. Constant tuples are small; slices only exist in subscripts.
        if (not isinstance(node.ctx, ast.Load)
                or all(isinstance(elt, ast.Constant) for elt in node.elts)
                or any(isinstance(elt, ast.Slice) for elt in node.elts)):
            return node
        return _call("_sandbox_bounded", [node], node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and node.attr in _GUARDED_METHODS:
            return _call("_sandbox_method", [node.value, ast.Constant(node.attr)], node)
        return node


# -------------------------------------------------------------------------- measuring values

_CONTAINERS = (list, tuple, set, frozenset, dict)
_PLAIN_SCALARS = (type(None), bool, int, float, str, Decimal, date)   # date covers datetime
_SCALARS = (type(None), bool, int, float, complex, str, bytes, Decimal, date, timedelta)


def _measure(value: Any, limit: int, plain_only: bool = False) -> int:
    """The rough length of `value`'s repr; SandboxError if that exceeds `limit`, if `value` is
    nested too deeply or (with `plain_only`) if it holds anything but plain scalars in lists,
    tuples, sets and dicts.

    Shared references are counted every time they are reached, because that is what a C-level
    repr, comparison or hash pays. Walks level by level, so deep values cannot exhaust the stack
    here, and the depth needs no bookkeeping per item. Weights are computed inline: a function
    call per item would also be an event for the trace function.
    """
    total = 0
    level = [value]
    for _depth in range(MAX_NESTING_DEPTH + 1):
        below: list[Any] = []
        for item in level:
            if isinstance(item, str) or (isinstance(item, bytes) and not plain_only):
                total += 2 + len(item)
            elif isinstance(item, int):
                total += 1 + item.bit_length() // 3
            elif isinstance(item, _CONTAINERS):
                total += 2 + len(item)  # brackets and separators; also refuses before queueing
                if total > limit:
                    break
                below.extend(item)
                if isinstance(item, dict):
                    below.extend(item.values())
            elif isinstance(item, range) and not plain_only:  # numbers made one by one
                widest = max(abs(item.start), abs(item.stop)).bit_length()
                total += 2 + len(item) * (2 + widest // 3)
            elif not plain_only and hasattr(type(item), "__length_hint__"):
                total += 2 + operator.length_hint(item) * 16  # an iterator: what it will yield
            elif plain_only and not isinstance(item, _PLAIN_SCALARS):
                raise SandboxError(f"a value of type '{type(item).__name__}' is not plain data")
            else:
                total += 16  # floats, Decimals, dates...
        if total > limit:
            raise SandboxError(f"value is too large (its repr would exceed {limit} characters)")
        if not below:
            return total
        level = below
    raise SandboxError(f"value is nested more than {MAX_NESTING_DEPTH} levels deep")


def _bounded(value: Any) -> Any:
    """Return `value` after refusing it if it is too big to compare, hash or print in one go."""
    if not isinstance(value, _SCALARS):
        _measure_during_run(value)
    return value


def _bounded_sequence(value: Any) -> Any:
    """The haystack of `in`: only lists and tuples are searched item by item."""
    if isinstance(value, (list, tuple)):
        _measure_during_run(value)
    return value


def _measure_during_run(value: Any) -> None:
    """_measure with the limits tracer suspended: CPython 3.11 runs every frame about three
    times slower while any trace function is set, even frames it does not trace, and the walk
    needs no deadline since MAX_VALUE_SIZE bounds it."""
    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        _measure(value, MAX_VALUE_SIZE)
    finally:
        sys.settrace(tracer)


# --------------------------------------------------------------------------- guarded operators

def _check_length(length: int) -> None:
    if length > MAX_SEQUENCE_LENGTH:
        raise SandboxError(
            f"result of {length} items or characters exceeds the limit of {MAX_SEQUENCE_LENGTH}")


def _check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise SandboxError(f"integer of about {bits} bits exceeds the limit of {MAX_INT_BITS} bits")


_SEQUENCES = (str, bytes, list, tuple)


def _check_add(left: Any, right: Any) -> None:
    # Repeated doubling (s += s) would reach gigabytes in about thirty steps.
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_length(len(left) + len(right))


def _check_mul(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        _check_int_bits(left.bit_length() + right.bit_length())
    elif isinstance(left, _SEQUENCES) and isinstance(right, int):
        _check_length(len(left) * max(right, 0))
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        _check_length(len(right) * max(left, 0))


def _check_pow(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_int_bits(base.bit_length() * exponent)


def _check_lshift(value: Any, shift: Any) -> None:
    if isinstance(value, int) and isinstance(shift, int) and value and shift > 0:
        _check_int_bits(value.bit_length() + shift)


def _check_mod(left: Any, right: Any) -> None:
    if isinstance(left, (str, bytes)):  # '%0999999999d' % 1 pads inside one C call
        raise SandboxError("%-formatting of strings is not allowed; use an f-string")


# operator node -> (helper name, check, operation, in-place operation)
_GUARDED_OPERATORS: dict[type[ast.operator], tuple[str, Callable, Callable, Callable]] = {
    ast.Add: ("add", _check_add, operator.add, operator.iadd),
    ast.Mult: ("mul", _check_mul, operator.mul, operator.imul),
    ast.Pow: ("pow", _check_pow, operator.pow, operator.ipow),
    ast.LShift: ("lshift", _check_lshift, operator.lshift, operator.ilshift),
    ast.Mod: ("mod", _check_mod, operator.mod, operator.imod),
}


def _guard_operator(check: Callable[[Any, Any], None],
                    operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def guarded(left: Any, right: Any) -> Any:
        check(left, right)
        result = operation(left, right)
        return _bounded(result) if isinstance(result, tuple) else result
    return guarded


def _augment_item(container: Any, key: Any, guarded: Callable[[Any, Any], Any], value: Any) -> None:
    container[key] = guarded(container[key], value)


# ----------------------------------------------------------------------------- guarded methods

def _walked_call(method: Callable, receiver: Any, args: tuple, kwargs: dict) -> Any:
    """count, index, sort, update, set algebra...: C code compares or hashes every element."""
    for value in (receiver, *args, *kwargs.values()):
        _bounded(value)
    return method(*args, **kwargs)


def _listed_view(method: Callable, receiver: Any, args: tuple, kwargs: dict) -> list:
    """keys() and values() as lists: a live view accepts any iterable in `|`, `&`, `-` and `^`
    and hashes all of it in C, long after the dict was measured."""
    return list(method(*args, **kwargs))


def _listed_items(method: Callable, receiver: Any, args: tuple, kwargs: dict) -> list:
    """items() as a list. The pairs are new tuples, so the dict is measured first to keep them
    as small as every other tuple."""
    _bounded(receiver)
    return list(method(*args, **kwargs))


def _guarded_join(method: Callable, receiver: Any, args: tuple, kwargs: dict) -> Any:
    if len(args) != 1 or kwargs:
        return method(*args, **kwargs)  # let Python report the malformed call
    items = list(args[0])
    separators = len(receiver) * max(len(items) - 1, 0)
    _check_length(separators + sum(len(item) for item in items if isinstance(item, (str, bytes))))
    return method(items)


def _guarded_replace(method: Callable, receiver: Any, args: tuple, kwargs: dict) -> Any:
    if (isinstance(receiver, (str, bytes)) and len(args) >= 2
            and all(isinstance(arg, type(receiver)) for arg in args[:2])):
        old, new = args[:2]
        count = receiver.count(old) if old else len(receiver) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        _check_length(len(receiver) + count * (len(new) - len(old)))
    return method(*args, **kwargs)


def _guarded_extend(method: Callable, receiver: Any, args: tuple, kwargs: dict) -> Any:
    if len(args) != 1 or kwargs:
        return method(*args, **kwargs)
    items = list(args[0])
    _check_length(len(receiver) + len(items))
    return method(items)


def _guarded_time_format(method: Callable, receiver: Any, args: tuple, kwargs: dict) -> Any:
    """strftime sizes its C buffer by the format; strptime turns it into a regular expression
    and matches the text with it: both stay cheap only for short strings."""
    if any(isinstance(value, str) and len(value) > MAX_FORMAT_CHARS
           for value in (*args, *kwargs.values())):
        raise SandboxError(f"date format or text is longer than {MAX_FORMAT_CHARS} characters")
    return method(*args, **kwargs)


_GUARDED_METHODS: dict[str, Callable[[Callable, Any, tuple, dict], Any]] = {
    **dict.fromkeys([
        "count", "index", "remove", "sort", "fromkeys", "update", "popitem", "union",
        "intersection", "difference", "symmetric_difference", "issubset", "issuperset",
        "isdisjoint", "intersection_update", "difference_update", "symmetric_difference_update",
    ], _walked_call),
    "keys": _listed_view,
    "values": _listed_view,
    "items": _listed_items,
    "join": _guarded_join,
    "replace": _guarded_replace,
    "extend": _guarded_extend,
    "strftime": _guarded_time_format,
    "strptime": _guarded_time_format,
}


def _guarded_method(obj: Any, name: str) -> Callable:
    """`obj.name` for a method in _GUARDED_METHODS, with its guard applied when called."""
    method = getattr(obj, name)
    if isinstance(method, types.MethodDescriptorType):
        # Reached through the class (str.join): the receiver is the first argument.
        return lambda receiver, *args, **kwargs: _guarded_method(receiver, name)(*args, **kwargs)
    guard = _GUARDED_METHODS[name]
    return lambda *args, **kwargs: guard(method, obj, args, kwargs)


# ----------------------------------------------------------------------------------- builtins

class _GuardedType:
    """Stands in for a builtin type whose constructor needs a guard; class attributes such as
    `dict.fromkeys` or `str.maketrans` still resolve on the real type."""

    def __init__(self, cls: type, construct: Callable[..., Any]):
        self._cls = cls
        self._construct = construct

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._construct(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)

    def __repr__(self) -> str:
        return repr(self._cls)


def _measuring(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a builtin that hashes or prints its arguments in C (str, set, dict)."""
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            _bounded(value)
        return function(*args, **kwargs)
    return guarded


def _draining(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap min, max or sorted, which compare items in C: a lone iterable argument is drained
    into a list so that a generator cannot hide what will be compared."""
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1:
            args = (list(args[0]),)
        for value in (*args, *kwargs.values()):
            _bounded(value)
        return function(*args, **kwargs)
    return guarded


def _decimal_bits(value: Decimal) -> int:
    return max(value.adjusted() + 1, 0) * 10 // 3


def _int(*args: Any, **kwargs: Any) -> int:
    # int(Decimal('1e999999999')) would build a billion-digit integer in one C call. Text in a
    # power-of-two base escapes CPython's digit limit, so the result is checked as well.
    if args and isinstance(args[0], Decimal) and args[0].is_finite():
        _check_int_bits(_decimal_bits(args[0]))
    result = int(*args, **kwargs)
    _check_int_bits(result.bit_length())
    return result


def _round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is None:
        if isinstance(number, Decimal) and number.is_finite():
            _check_int_bits(_decimal_bits(number))
        return round(number)
    if isinstance(number, int) and isinstance(ndigits, int) and ndigits < 0:
        _check_int_bits(-ndigits * 10 // 3)  # CPython computes 10 ** -ndigits to round an int
    return round(number, ndigits)


def _tuple(*args: Any) -> tuple:
    return _bounded(tuple(*args))


def _sum(iterable: Any, /, start: Any = 0) -> Any:
    # sum(lists, []) copies the running total at every step: quadratic, in C.
    if not isinstance(start, (int, float, Decimal, timedelta)):
        raise SandboxError("sum() only adds numbers and timedeltas")
    return sum(iterable, start)


def _range(*args: Any) -> range:
    numbers = range(*args)
    if numbers[MAX_SEQUENCE_LENGTH:]:  # slicing is O(1) even where len() would overflow
        raise SandboxError(f"range of more than {MAX_SEQUENCE_LENGTH} numbers is not allowed")
    return numbers


def _zip(*iterables: Any, strict: bool = False) -> Any:
    """zip's tuples pair up existing objects and could nest without bound, so each is measured."""
    for row in zip(*iterables, strict=strict):
        yield _bounded(row)


def _enumerate(iterable: Any, start: int = 0) -> Any:
    for row in enumerate(iterable, start):
        yield _bounded(row)


SAFE_BUILTINS: dict[str, Any] = {
    "abs": abs, "all": all, "any": any, "bool": bool, "float": float, "len": len, "list": list,
    "reversed": reversed,
    "dict": _GuardedType(dict, _measuring(dict)),
    "int": _GuardedType(int, _int),
    "set": _GuardedType(set, _measuring(set)),
    "str": _GuardedType(str, _measuring(str)),
    "tuple": _GuardedType(tuple, _tuple),
    "enumerate": _enumerate, "max": _draining(max), "min": _draining(min), "range": _range,
    "round": _round, "sorted": _draining(sorted), "sum": _sum, "zip": _zip,
    "Decimal": Decimal, "date": date, "datetime": datetime, "timedelta": timedelta,
}

_HELPERS: dict[str, Any] = {
    "_sandbox_bounded": _bounded,
    "_sandbox_bounded_sequence": _bounded_sequence,
    "_sandbox_method": _guarded_method,
    "_sandbox_augment_item": _augment_item,
    **{f"_sandbox_{name}": _guard_operator(check, plain)
       for name, check, plain, _ in _GUARDED_OPERATORS.values()},
    **{f"_sandbox_i{name}": _guard_operator(check, inplace)
       for name, check, _, inplace in _GUARDED_OPERATORS.values()},
}


# ------------------------------------------------------------------------------------ running

def _memory_bytes() -> int:
    """The process's resident memory now (Linux), else its peak: a limit on growth from the
    current size, not from the high-water mark, cannot ratchet up run after run."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT


def _limits_tracer() -> Callable:
    """A trace function enforcing TIME_LIMIT_SECONDS and MAX_MEMORY_BYTES for one run.

    It asks for opcode events because one line can hold thousands of operations. Memory is
    checked on a timer because reading it costs a few microseconds. Limits are raised only
    in frames of user code or of this module's helpers, never inside library frames: an
    exception landing in importlib while it holds the import lock would leave the lock held
    and every later import (in any thread) waiting for ever. Library frames are not traced
    step by step; the first user-code event after the deadline stops the run, and the
    sandbox worker's wall-clock kill covers C code that never returns.
    """
    time_limit, memory_limit = TIME_LIMIT_SECONDS, MAX_MEMORY_BYTES
    started = time.monotonic()
    deadline = started + time_limit
    # Most snippets finish within a millisecond: memory is first read then, and the size
    # at that moment is the base (no single operation can allocate much, see above).
    memory_ceiling: int | None = None
    next_memory_check = started + MEMORY_CHECK_SECONDS
    ours = (_SOURCE_NAME, __file__, *_HELPER_FILES)

    def trace(frame: types.FrameType, event: str, arg: Any) -> Callable | None:
        nonlocal next_memory_check, memory_ceiling
        if frame.f_code.co_filename not in ours:
            return None  # a library frame: never interrupted, not traced line by line
        now = time.monotonic()
        if now > deadline:
            raise SandboxError(f"time limit of {time_limit} s exceeded")
        if now >= next_memory_check:
            memory = _memory_bytes()
            if memory_ceiling is None:
                memory_ceiling = memory + memory_limit
            elif memory > memory_ceiling:
                raise SandboxError(f"memory limit of {memory_limit // 2**20} MiB exceeded")
            next_memory_check = now + MEMORY_CHECK_SECONDS
        if event == "call":
            if frame.f_code.co_filename != _SOURCE_NAME:
                return None  # entering a helper is checked, its own steps need not be
            frame.f_trace_lines = False
            frame.f_trace_opcodes = True
        return trace

    return trace


def _run(code: types.CodeType, namespace: dict[str, Any]) -> Any:
    """Run compiled user code under the limits; every failure becomes a located SandboxError."""
    previous_tracer = sys.gettrace()  # e.g. coverage or a debugger; put back whatever happens
    try:
        sys.settrace(_limits_tracer())
        try:
            with decimal.localcontext(_DECIMAL_CONTEXT):
                return eval(code, namespace)  # noqa: S307 - checked and rewritten above
        finally:
            sys.settrace(previous_tracer)
    except SandboxError as err:
        if err.line is not None:
            raise
        raise err.at_line(_user_line(err.__traceback__)) from err.__cause__
    except MemoryError:
        raise SandboxError("out of memory", _user_line(sys.exc_info()[2])) from None
    except Exception as err:  # whatever user code raised is reported, never propagated raw
        raise SandboxError(f"{type(err).__name__}: {_one_line(str(err))}",
                           _user_line(err.__traceback__)) from err


def _user_line(traceback: types.TracebackType | None) -> int | None:
    """The line of the innermost user-code frame in a traceback."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == _SOURCE_NAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 1] + "…"


def _is_visible(name: Any) -> bool:
    """Whether a data key can be a variable: user code cannot spell `_` names anyway, and
    keeping them out means data can never shadow the helpers or `__builtins__`."""
    return isinstance(name, str) and not name.startswith("_")


def _namespace(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Globals for user code: visible keys of each layer (later layers win), then helpers."""
    names = {key: value for layer in layers for key, value in layer.items() if _is_visible(key)}
    names.update(_HELPERS)
    names["__builtins__"] = SAFE_BUILTINS
    return names


def evaluate(source: str, data: Mapping[str, Any],
             extra: Mapping[str, Any] | None = None) -> Any:
    """Evaluate an expression (optionally in `${...}`) with the keys of `data` as variables,
    and those of `extra` (data objects, the org functions of engine.people) where `data`
    has no such key."""
    return _evaluate(source, data, extra or {})


def _evaluate(source: str, data: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    body, lines_before = _locate_body(source)
    try:
        result = _run(_compile(body, "eval"), _namespace(extra, data))
        _check_result(result)
    except SandboxError as err:
        raise _shifted(err, lines_before) from err.__cause__
    return result


def _check_result(result: Any) -> None:
    """Results may be stored by SpiffWorkflow, and a generator returned here would run user code
    later without the tracer, so only (bounded) data may leave."""
    try:
        _measure(result, MAX_DATA_SIZE, plain_only=True)
    except SandboxError as err:
        raise SandboxError(f"the expression's result cannot be used: {err.reason}") from None


def execute(source: str, data: dict, extra: Mapping[str, Any] | None = None) -> None:
    """Run a script; top-level variables it assigns or deletes are written back into `data`.

    The script works on a deep copy, and `data` is only replaced once everything succeeded and
    every value is plain data, so a failing script leaves `data` exactly as it was.
    """
    _execute(source, data, extra or {})


def _execute(source: str, data: dict, extra: Mapping[str, Any]) -> None:
    code = _compile(source, "exec")
    namespace = _namespace(_deep_copy(extra), _deep_copy(data))
    _run(code, namespace)
    stored = _stored_data(namespace, data, extra)
    data.clear()
    data.update(stored)


def _deep_copy(mapping: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return copy.deepcopy({key: value for key, value in mapping.items() if _is_visible(key)})
    except Exception as err:  # e.g. data the application stored that cannot be copied
        raise SandboxError(f"task data cannot be copied: {_one_line(str(err))}") from err


def _stored_data(namespace: dict[str, Any], data: dict, extra: Mapping[str, Any]) -> dict:
    """The new task data: the script's visible variables (except names that only came from
    `extra`, which are read-only) plus the hidden keys it could not touch, all as plain data.

    Shared references count every time they appear, as they will once the data is serialized.
    """
    candidates = [(name, value) for name, value in namespace.items()
                  if _is_visible(name) and (name in data or name not in extra)]
    candidates += [(name, value) for name, value in data.items() if not _is_visible(name)]
    stored, total = {}, 0
    for name, value in candidates:
        try:
            total += _measure(value, MAX_DATA_SIZE, plain_only=True)
            stored[name] = _to_plain(value)
        except SandboxError as err:
            raise SandboxError(
                f"variable '{name}' cannot be stored in task data: {err.reason}") from None
        if total > MAX_DATA_SIZE:
            raise SandboxError(f"task data would exceed {MAX_DATA_SIZE} characters "
                               f"(at variable '{name}')")
    return stored


def _to_plain(value: Any) -> Any:
    """A copy of a measured value with tuples turned into lists (its depth is already bounded);
    refuses the containers that are not plain data."""
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise SandboxError("dict keys must be strings")
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        raise SandboxError(f"a value of type '{type(value).__name__}' is not plain data")
    return value


# ---------------------------------------------------------------- other expression languages

GENERATED_PREFIX = "_sandbox_"
# Modules whose functions generated code calls (engine.expressions' runtimes): like this
# module's helpers, entering one of them is checked against the limits.
_HELPER_FILES: list[str] = []


def register_helper_module(filename: str) -> None:
    """Treat functions defined in `filename` as sandbox helpers in the limits tracer."""
    if filename not in _HELPER_FILES:
        _HELPER_FILES.append(filename)


def compile_translated(tree: ast.Expression) -> types.CodeType:
    """Check, rewrite and compile an expression tree that engine.expressions built from JUEL or
    FEEL: the same allowlist, denylist and operator rewrite as Python source. Only the names it
    generated itself (`_sandbox_*`: helpers, the variable scope, loop variables) may start with
    `_`; a user's identifiers never become Python names, they are looked up in the scope."""
    _check_tree(tree, expression=True, generated=True)
    try:
        return compile(ast.fix_missing_locations(_Rewriter().visit(tree)), _SOURCE_NAME, "eval")
    except (RecursionError, MemoryError):
        raise SandboxError("expression is nested too deeply") from None


def translated_namespace(helpers: Mapping[str, Any]) -> dict[str, Any]:
    """The fixed part of the globals of a translated language's code, built once per language."""
    names = dict(helpers)
    names.update(_HELPERS)
    names["__builtins__"] = SAFE_BUILTINS
    return names


def evaluate_translated(code: types.CodeType, namespace: Mapping[str, Any],
                        data: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    """Run translated code under the limits with the visible keys of `extra` and `data` (data
    wins) as its read-only variable scope `_sandbox_scope`; only plain data may come out."""
    names = dict(namespace)
    names["_sandbox_scope"] = {key: value for layer in (extra, data)
                               for key, value in layer.items() if _is_visible(key)}
    result = _run(code, names)
    _check_result(result)
    return result


def compile_translated_script(tree: ast.Module) -> types.CodeType:
    """As `compile_translated`, for a script (statements) that engine.expressions.javascript
    built: the allowlist of statements is the one Python scripts have."""
    _check_tree(tree, expression=False, generated=True)
    try:
        return compile(ast.fix_missing_locations(_Rewriter().visit(tree)), _SOURCE_NAME, "exec")
    except (RecursionError, MemoryError):
        raise SandboxError("script is nested too deeply") from None
    except SyntaxError as err:  # e.g. `a || b` in the array a callback walks
        raise SandboxError(f"this construct is not supported: {err.msg}") from None


class ScriptReturn(BaseException):
    """Raised by a translated script's `return` to end it with a value. A BaseException so
    that nothing between the script and `run_translated_script` reports it as a failure."""

    def __init__(self, value: Any):
        super().__init__()
        self.value = value


def run_translated_script(code: types.CodeType, namespace: Mapping[str, Any], data: dict,
                          extra: Mapping[str, Any], to_plain: Callable[[Any], Any]) -> Any:
    """Run a translated script under the limits. It reads and writes a deep copy of `data`
    (`_sandbox_data`) and reads `extra` (`_sandbox_extra`); its own variables live in
    `_sandbox_env`, never in task data. `data` is replaced only when the script succeeded
    and every value is plain data. Returns the script's value (its `return`, else its last
    expression statement's), made plain by `to_plain`."""
    names = dict(namespace)
    working = _deep_copy(data)
    names["_sandbox_data"] = working
    names["_sandbox_extra"] = {key: value for key, value in extra.items() if _is_visible(key)}
    names["_sandbox_env"] = {}
    names["_sandbox_completion"] = None
    try:
        _run(code, names)
        result = names["_sandbox_completion"]
    except ScriptReturn as returned:
        result = returned.value
    try:
        result = to_plain(result)
        working = {key: to_plain(value) for key, value in working.items()}
    except RecursionError:
        raise SandboxError(f"value is nested more than {MAX_NESTING_DEPTH} levels deep") from None
    _check_result(result)
    stored = _stored_data(working, data, {})
    data.clear()
    data.update(stored)
    return result

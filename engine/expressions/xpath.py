"""XPath 1.0 (BPMN 2.0's default expression language, as the MIWG files and tools from the
OMG world write it): parse with the grammar in xpath.lark and translate the tree into a
Python expression tree that the sandbox checks, rewrites and runs like any other.

What runs: `or`, `and`, `= != < <= > >=`, `+ - * div mod`, unary minus, literals,
parentheses, the core functions of xpath_runtime.FUNCTIONS, BPMN's `bpmn:getDataObject`,
`getDataInput`, `getDataOutput` and `getProcessProperty` (all read process data; `bpmn:` or any prefix the
element binds to BPMN's namespace), `$name`
(process data too), child steps into process data (`bpmn:getDataObject('order')/total`)
and predicates (`$items[1]`, `$order/lines[qty > 2]`), inside which `.`, relative paths,
`position()` and `last()` read the node being tested; predicates become comprehensions
over generated locals, so their loops run as traced user code under the sandbox's limits.
What is refused at deploy time, with its position: whatever reads the context node outside
a predicate (a diagram's expression has none: bare paths such as `amount`, `.`,
`position()`, `string()` without an argument), `..` and other axes, `//`, unions, and
`bpmn:getActivityProperty` and the instance attributes (DutyFlow keeps no data per activity
or instance besides the process data).

A designer's names never become Python names: data is read through xpath_runtime's helpers
with the name as a string constant.
"""
from __future__ import annotations

import ast
import functools
import types

import lark

from engine import sandbox

from . import xpath_runtime
from .parsing import (ExpressionSyntaxError, constant, helper, load_parser, located, parse,
                      position_of, scope)

BPMN_PREFIX = "bpmn"
# BPMN 2.0, table 10.x: the XPath functions over process data; each takes one name.
_BPMN_DATA_FUNCTIONS = frozenset({"getDataObject", "getDataInput", "getDataOutput",
                                  "getProcessProperty"})
_BPMN_UNAVAILABLE = frozenset({"getActivityProperty", "getEventProperty", "getInstanceAttribute",
                               "getActivityInstanceAttribute"})
# Core functions whose every form, or whose form without arguments, reads the context node.
_CONTEXT_FUNCTIONS = frozenset({"id", "lang", "local-name", "namespace-uri", "name"})
_CONTEXT_DEFAULTS = frozenset({"string", "number", "string-length", "normalize-space"})
MAX_NUMBER_LITERAL_CHARS = 400
_NO_CONTEXT = "a diagram's expression has no context node"


@functools.cache
def _parser() -> lark.Lark:
    """Built on first use: diagrams in other languages never pay for it."""
    return load_parser("xpath.lark")


@functools.lru_cache(maxsize=1024)
def compile_expression(source: str, prefixes: frozenset[str] = frozenset()) -> types.CodeType:
    """`source` is one XPath expression, stripped; `prefixes` are those its element binds to
    BPMN's namespace besides `bpmn` (`bpmn2:getDataObject`). Raises SandboxError (located
    ExpressionSyntaxError for what the designer wrote)."""
    tree = parse(_parser(), source, 0)
    try:
        translated = helper("xpath_result", _Translator(source, prefixes).visit(tree))
    except RecursionError:
        raise ExpressionSyntaxError("expression is nested too deeply") from None
    return sandbox.compile_translated(ast.Expression(body=translated))


def with_bpmn_prefix(source: str, prefixes: frozenset[str]) -> str:
    """`source` with BPMN's functions written `bpmn:`, whichever of `prefixes` (bound to
    BPMN's namespace where it was written) it used: the stored text needs no namespaces."""
    if not prefixes - {BPMN_PREFIX}:
        return source
    tree = parse(_parser(), source, 0)
    names = sorted(tree.scan_values(lambda token: isinstance(token, lark.Token)
                                    and token.type == "FUNCTION_NAME"),
                   key=lambda token: token.start_pos, reverse=True)
    for name in names:
        prefix = str(name).partition(":")[0]
        if ":" in name and prefix in prefixes and prefix != BPMN_PREFIX:
            source = source[:name.start_pos] + BPMN_PREFIX + source[name.start_pos + len(prefix):]
    return source


def _data_hint(name: str) -> str:
    return f"; read process data with bpmn:getDataObject('{name}')" if name else ""


class _Translator:
    def __init__(self, source: str, prefixes: frozenset[str] = frozenset()):
        self.source = source
        self.prefixes = prefixes | {BPMN_PREFIX}
        # Innermost last: the (position, node, last) locals of the predicates being read.
        self.frames: list[tuple[str, str, str]] = []
        self.locals = 0

    def error(self, node: lark.Tree | lark.Token, reason: str) -> ExpressionSyntaxError:
        return located(self.source, position_of(node, 0), reason)

    def visit(self, node: lark.Tree) -> ast.expr:
        return getattr(self, f"_{node.data}")(node, *node.children)

    def boolean(self, node: lark.Tree) -> ast.expr:
        return helper("xpath_bool", self.visit(node))

    # literals
    def _string(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        return constant(str(token)[1:-1])  # XPath 1.0 literals have no escapes

    def _number(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        if len(token) > MAX_NUMBER_LITERAL_CHARS:
            raise self.error(token, "number literal is too long")
        return constant(float(token))

    # operators
    def _or_op(self, node: lark.Tree, left, right) -> ast.expr:
        return ast.BoolOp(op=ast.Or(), values=[self.boolean(left), self.boolean(right)])

    def _and_op(self, node: lark.Tree, left, right) -> ast.expr:
        return ast.BoolOp(op=ast.And(), values=[self.boolean(left), self.boolean(right)])

    def _compare(self, node: lark.Tree, left, op: lark.Token, right) -> ast.expr:
        return helper("xpath_compare", constant(str(op)), self.visit(left), self.visit(right))

    def _arith(self, node: lark.Tree, left, op: lark.Token, right) -> ast.expr:
        return helper("xpath_arith", constant(str(op)), self.visit(left), self.visit(right))

    def _neg(self, node: lark.Tree, operand) -> ast.expr:
        return helper("xpath_neg", self.visit(operand))

    # data
    def _variable(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        name = str(token)[1:]
        if ":" in name:
            raise self.error(token, f"variable ${name} is not available: variables are "
                                    "process data, named without a prefix")
        return helper("xpath_var", scope(), constant(name))

    def _function(self, node: lark.Tree, token: lark.Token, arguments=None) -> ast.expr:
        name = str(token)
        args = list(arguments.children) if arguments is not None else []
        prefix, _, local = name.rpartition(":")
        if prefix:
            return self.bpmn_function(token, prefix, local, args)
        if name in ("position", "last") and not args:
            position, _, last = self.context(token)
            return ast.Name(id=position if name == "position" else last, ctx=ast.Load())
        if name in _CONTEXT_DEFAULTS and not args:
            return helper(xpath_runtime.helper_name(name), self.context_node(token))
        if name in _CONTEXT_FUNCTIONS:
            raise self.error(token, f"{name}() is not available")
        if name not in xpath_runtime.FUNCTIONS:
            hint = (f"; BPMN's functions are written {BPMN_PREFIX}:{name}(...)"
                    if name in _BPMN_DATA_FUNCTIONS | _BPMN_UNAVAILABLE else "")
            raise self.error(token, f"function {name}() is not available{hint}")
        fewest, most, _ = xpath_runtime.FUNCTIONS[name]
        if len(args) < fewest or (most is not None and len(args) > most):
            raise self.error(token, f"{name}() takes {_arity(fewest, most)}, "
                                    f"not {len(args)}")
        return helper(xpath_runtime.helper_name(name), *(self.visit(arg) for arg in args))

    def bpmn_function(self, token: lark.Token, prefix: str, local: str,
                      args: list[lark.Tree]) -> ast.expr:
        name = f"{prefix}:{local}"
        if prefix not in self.prefixes:
            hint = (f"; BPMN's functions are written {BPMN_PREFIX}:{local}(...)"
                    if local in _BPMN_DATA_FUNCTIONS | _BPMN_UNAVAILABLE else "")
            raise self.error(token, f"function {name}() is not available{hint}")
        if local in _BPMN_UNAVAILABLE:
            raise self.error(token, f"{name}() is not available: DutyFlow keeps no data per "
                                    "activity, event or instance besides the process data; "
                                    f"read it with {BPMN_PREFIX}:getDataObject('name')")
        if local not in _BPMN_DATA_FUNCTIONS:
            raise self.error(token, f"function {name}() is not available")
        if len(args) != 1:
            raise self.error(token, f"{name}() takes 1 argument (the name), not {len(args)}")
        return helper("xpath_data", scope(), self.visit(args[0]))

    def _path(self, node: lark.Tree, base, separator: lark.Token, relative) -> ast.expr:
        self.check_separator(separator)
        return self.steps(self.visit(base), relative)

    def steps(self, value: ast.expr, relative: lark.Tree) -> ast.expr:
        """`value` followed by the steps of a relative path: child steps into process data,
        `.`, and predicates on each step."""
        for part in relative.children:
            if isinstance(part, lark.Token):
                self.check_separator(part)
            elif part.data == "self_step":
                value = helper("xpath_nodes_of", value)
            elif part.data == "parent_step":
                raise self.error(part, "'..' is not available: process data has no parents")
            else:
                name, predicates = self.member_name(part)
                if not predicates:
                    value = helper("xpath_step", value, constant(name))
                    continue
                # Predicates count positions among the children of each context node.
                group = self.new_local()
                selected = ast.Name(id=group, ctx=ast.Load())
                for predicate in predicates:
                    selected = self.filtered(selected, predicate)
                value = helper("xpath_flatten", ast.ListComp(
                    elt=selected, generators=[ast.comprehension(
                        target=ast.Name(id=group, ctx=ast.Store()),
                        iter=helper("xpath_groups", value, constant(name)), ifs=[],
                        is_async=0)]))
        return value

    def filtered(self, nodes: ast.expr, predicate: lark.Tree) -> ast.expr:
        """The nodes for which `predicate` holds, read with each as the context node: a
        number keeps the node at that position (from 1), anything else its boolean."""
        position, node, last = self.new_local(), self.new_local(), self.new_local()
        self.frames.append((position, node, last))
        try:
            condition = self.visit(predicate)
        finally:
            self.frames.pop()
        target = ast.Tuple(elts=[ast.Name(id=name, ctx=ast.Store())
                                 for name in (position, node, last)], ctx=ast.Store())
        return helper("xpath_node_set", ast.ListComp(
            elt=ast.Name(id=node, ctx=ast.Load()), generators=[ast.comprehension(
                target=target, iter=helper("xpath_enumerate", nodes),
                ifs=[helper("xpath_keep", condition, ast.Name(id=position, ctx=ast.Load()))],
                is_async=0)]))

    def new_local(self) -> str:
        self.locals += 1
        return f"{sandbox.GENERATED_PREFIX}xpath_{self.locals}"

    def context(self, what: lark.Tree | lark.Token) -> tuple[str, str, str]:
        """The innermost predicate's (position, node, last) locals, or a refusal."""
        if not self.frames:
            raise self.error(what, f"{self.text_of(what)} reads the context node, and "
                                   f"{_NO_CONTEXT}")
        return self.frames[-1]

    def context_node(self, what: lark.Tree | lark.Token) -> ast.expr:
        return helper("xpath_context", ast.Name(id=self.context(what)[1], ctx=ast.Load()))

    def check_separator(self, separator: lark.Token) -> None:
        if str(separator) == "//":
            raise self.error(separator, "descendant paths (//) are not available; "
                                        "name each step (order/lines/amount)")

    def member_name(self, step: lark.Tree) -> tuple[str, list[lark.Tree]]:
        """The member a step of a path selects (`name`, `child::name`, `@name` or `*`),
        and the step's predicates."""
        parts = list(step.children)
        if isinstance(parts[0], lark.Token) and parts[0].type == "AXIS":
            axis = str(parts.pop(0))[:-2].strip()
            if axis not in ("child", "attribute"):
                raise self.error(step, f"the {axis}:: axis is not available; "
                                       "only child steps (order/total) are")
        test, predicates = parts[0], parts[1:]
        if isinstance(test, lark.Tree) and test.data == "attribute_test":
            test = test.children[0]
        if isinstance(test, lark.Tree):
            raise self.error(test, "node type tests (text(), node()...) are not available")
        name = str(test)
        if ":" in name:
            raise self.error(test, f"step {name!r}: names with a prefix are not available; "
                                   "process data members have none")
        return name, predicates

    # what reads a context node: inside a predicate, its node; elsewhere refused
    def _location_path(self, node: lark.Tree, relative) -> ast.expr:
        if self.frames:
            return self.steps(self.context_node(node), relative)
        first = relative.children[0]
        name = str(first.children[-1]) if (
            first.data == "step" and len(first.children) == 1
            and isinstance(first.children[0], lark.Token) and first.children[0] != "*") else ""
        raise self.error(node, f"the path {self.text(node)!r} reads the context node, and "
                               f"{_NO_CONTEXT}{_data_hint(name)}")

    def _absolute_path(self, node: lark.Tree, *children) -> ast.expr:
        raise self.error(node, f"the absolute path {self.text(node)!r} is not available: "
                               "there is no document" + _data_hint(""))

    def _predicate(self, node: lark.Tree, base, condition) -> ast.expr:
        return self.filtered(helper("xpath_nodes_of", self.visit(base)), condition)

    def _union(self, node: lark.Tree, left, right) -> ast.expr:
        raise self.error(right, "unions (|) are not available")

    def text_of(self, what: lark.Tree | lark.Token) -> str:
        return f"{what}()" if isinstance(what, lark.Token) else repr(self.text(what))

    def text(self, node: lark.Tree) -> str:
        meta = node.meta
        if meta.empty:
            return ""
        return self.source[meta.start_pos:meta.end_pos]


def _arity(fewest: int, most: int | None) -> str:
    if most is None:
        return f"{fewest} or more arguments"
    if fewest == most:
        return f"{fewest} argument{'s' if fewest != 1 else ''}"
    return f"{fewest} to {most} arguments"

"""JUEL (Camunda 7): parse `${...}`/`#{...}` with the grammar in juel.lark and translate the
tree into a Python expression tree that the sandbox checks, rewrites and runs like any other.

The translation never turns a designer's identifier into a Python name or attribute:
variables are looked up in the scope mapping, properties and methods go through the helpers
of juel_runtime, so `x.__class__` is a missing map key, never an attribute.
"""
from __future__ import annotations

import ast
import functools
import types
from decimal import Decimal

import lark

from engine import sandbox

from . import camunda_api, juel_runtime
from .parsing import (ExpressionSyntaxError, constant, helper, load_parser, located, parse,
                      position_of, scope)

_COMPARISONS = {"==": "eq", "eq": "eq", "!=": "ne", "ne": "ne", "<": "lt", "lt": "lt",
                "<=": "le", "le": "le", ">": "gt", "gt": "gt", ">=": "ge", "ge": "ge"}
_ESCAPES = {"\\'": "'", '\\"': '"', "\\\\": "\\"}


@functools.cache
def _lexer() -> lark.Lark:
    return load_parser("juel.lark", lexer="basic")


def tokens(body: str) -> list[lark.Token]:
    """The JUEL tokens of a text that may not parse (for language detection)."""
    return list(_lexer().lex(body))


def body_offset(source: str) -> int:
    """Where the expression starts inside `${...}` or `#{...}`."""
    return 2


def is_wrapped(source: str) -> bool:
    return source.startswith(("${", "#{")) and source.endswith("}")


@functools.cache
def _parser() -> lark.Lark:
    """Built on first use (about 50 ms): diagrams in Python never pay for it."""
    return load_parser("juel.lark")


@functools.lru_cache(maxsize=1024)
def compile_expression(source: str) -> types.CodeType:
    """`source` is one `${...}` or `#{...}`, stripped. Raises SandboxError (located
    ExpressionSyntaxError for what the designer wrote)."""
    if not is_wrapped(source):
        raise located(source, 0, "a JUEL expression is written as ${...} or #{...}")
    tree = parse(_parser(), source[:-1], body_offset(source))
    try:
        translated = _Translator(source).visit(tree)
    except RecursionError:
        raise ExpressionSyntaxError("expression is nested too deeply") from None
    return sandbox.compile_translated(ast.Expression(body=translated))


class _Translator:
    def __init__(self, source: str):
        self.source = source

    def error(self, node: lark.Tree | lark.Token, reason: str) -> ExpressionSyntaxError:
        return located(self.source, position_of(node, body_offset(self.source)), reason)

    def visit(self, node: lark.Tree | lark.Token) -> ast.expr:
        return getattr(self, f"_{node.data}")(node, *node.children)

    def boolean(self, node: lark.Tree) -> ast.expr:
        return helper("juel_bool", self.visit(node))

    # literals
    def _true(self, node: lark.Tree) -> ast.expr:
        return constant(True)

    def _false(self, node: lark.Tree) -> ast.expr:
        return constant(False)

    def _null(self, node: lark.Tree) -> ast.expr:
        return constant(None)

    def _integer(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        if len(token) > 30:
            raise self.error(token, "number literal is too long")
        return constant(int(token))

    def _floating(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        if len(token) > 30 or abs(Decimal(str(token)).adjusted()) > 300:
            raise self.error(token, "number literal is out of range")
        return constant(float(token))

    def _string(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        text = str(token)[1:-1]
        result, position = [], 0
        while position < len(text):
            pair = text[position:position + 2]
            if pair in _ESCAPES:
                result.append(_ESCAPES[pair])
                position += 2
            else:
                result.append(text[position])
                position += 1
        return constant("".join(result))

    # operators
    def _choice(self, node: lark.Tree, test, body, orelse) -> ast.expr:
        return ast.IfExp(test=self.boolean(test), body=self.visit(body), orelse=self.visit(orelse))

    def _or_op(self, node: lark.Tree, left, _op, right) -> ast.expr:
        return ast.BoolOp(op=ast.Or(), values=[self.boolean(left), self.boolean(right)])

    def _and_op(self, node: lark.Tree, left, _op, right) -> ast.expr:
        return ast.BoolOp(op=ast.And(), values=[self.boolean(left), self.boolean(right)])

    def _not_op(self, node: lark.Tree, _op, operand) -> ast.expr:
        return ast.UnaryOp(op=ast.Not(), operand=self.boolean(operand))

    def _empty(self, node: lark.Tree, operand) -> ast.expr:
        return helper("juel_empty", self.visit(operand))

    def _neg(self, node: lark.Tree, operand) -> ast.expr:
        return helper("juel_neg", self.visit(operand))

    def _compare(self, node: lark.Tree, left, op: lark.Token, right) -> ast.expr:
        return helper(f"juel_{_COMPARISONS[str(op)]}", self.visit(left), self.visit(right))

    def _arith(self, node: lark.Tree, left, op: lark.Token, right) -> ast.expr:
        return helper("juel_arith", constant(str(op)), self.visit(left), self.visit(right))

    # data access
    def _identifier(self, node: lark.Tree, name: lark.Token) -> ast.expr:
        self.check_name(name)
        return helper("juel_var", scope(), constant(str(name)))

    def _property(self, node: lark.Tree, base, name: lark.Token) -> ast.expr:
        self.check_name(name)
        return helper("juel_prop", self.visit(base), constant(str(name)))

    def _index(self, node: lark.Tree, base, key) -> ast.expr:
        return helper("juel_index", self.visit(base), self.visit(key))

    def _method(self, node: lark.Tree, base, name: lark.Token, *arguments) -> ast.expr:
        args = [self.visit(arg) for arg in (arguments[0].children if arguments else ())]
        if isinstance(base, lark.Tree) and base.data == "identifier" \
                and str(base.children[0]) == "execution":
            if str(name) in ("getVariable", "getVariableLocal") and len(args) == 1:
                return helper("juel_get_variable", scope(), args[0])
            raise self.error(name, f"execution.{name}() is not available; "
                                   "use execution.getVariable('name')")
        if str(name) not in juel_runtime.METHOD_NAMES:  # a bean's method: Java code
            error = self.error(name, f"method {name}() is not available")
            raise camunda_api.UnavailableApi(error.reason, error.line, error.column)
        return helper("juel_method", self.visit(base), constant(str(name)), *args)

    def _function(self, node: lark.Tree, name: lark.Token, *arguments) -> ast.expr:
        args = [self.visit(arg) for arg in (arguments[0].children if arguments else ())]
        if str(name) == "S" and len(args) == 1:  # Camunda Spin: S(json).prop("a")...
            return helper("juel_spin", args[0])
        raise self.error(name, f"function {name}() is not available")

    def check_name(self, name: lark.Token) -> None:
        if str(name).startswith("_"):
            raise self.error(name, f"name '{name}' is not allowed")

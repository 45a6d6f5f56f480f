"""FEEL (Camunda 8): parse the text after `=` with the grammar in feel.lark and translate the
tree into a Python expression tree that the sandbox checks, rewrites and runs like any other.

A designer's names never become Python names: variables are looked up in the scope mapping
(null when missing), paths and filters go through feel_runtime. Only the variables that
`some`, `every`, `for` and filters bind become Python names, generated ones (`_sandbox_local_N`)
of comprehensions, so their loops run as traced user code under the sandbox's limits.
"""
from __future__ import annotations

import ast
import functools
import types

import lark

from engine import sandbox

from . import feel_functions, feel_runtime
from .parsing import (ExpressionSyntaxError, constant, helper, load_parser, located, parse,
                      position_of, scope)

_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
MAX_INT_LITERAL_DIGITS = 30


def body_offset(source: str) -> int:
    return 1 if source.startswith("=") else 0


INPUT_NAME = "?"  # the scope key of a decision table input's value while its entries run


@functools.cache
def _parser() -> lark.Lark:
    """Built on first use (about 50 ms): diagrams in Python never pay for it."""
    return load_parser("feel.lark", start=("start", "unary_tests"))


@functools.lru_cache(maxsize=1024)
def compile_expression(source: str) -> types.CodeType:
    """`source` is FEEL, stripped, with or without its leading `=`. Raises SandboxError
    (located ExpressionSyntaxError for what the designer wrote)."""
    tree = parse(_parser(), source, body_offset(source))
    try:
        translated = _Translator(source).visit(tree)
    except RecursionError:
        raise ExpressionSyntaxError("expression is nested too deeply") from None
    return sandbox.compile_translated(ast.Expression(body=translated))


@functools.lru_cache(maxsize=4096)
def compile_unary_tests(source: str) -> types.CodeType:
    """A decision table's input entry (`< 10`, `[1..5]`, `"a","b"`, `not("x")`, `? > 2`),
    stripped and not `-`, as code giving true, false or null for the input value found
    in the scope under INPUT_NAME. Raises SandboxError like compile_expression."""
    tree = parse(_parser(), source, 0, start="unary_tests")
    try:
        translated = _Translator(source, unary=True).visit(tree)
    except RecursionError:
        raise ExpressionSyntaxError("expression is nested too deeply") from None
    return sandbox.compile_translated(ast.Expression(body=translated))


def _name_text(node: lark.Tree | lark.Token) -> str:
    """A name as FEEL reads it: its words joined by single spaces, backticks removed."""
    words = node.children if isinstance(node, lark.Tree) else [node]
    return " ".join(" ".join(str(word).strip("`").split()) for word in words)


def _local(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


class _Translator:
    def __init__(self, source: str, unary: bool = False):
        self.source = source
        self.unary = unary  # translating unary tests, where `?` is the input
        # Innermost last: ("bound", {feel name: local}) or ("item", local) for a filter.
        self.frames: list[tuple[str, object]] = []
        self.locals = 0

    def error(self, node: lark.Tree | lark.Token, reason: str) -> ExpressionSyntaxError:
        return located(self.source, position_of(node, body_offset(self.source)), reason)

    def visit(self, node: lark.Tree | lark.Token) -> ast.expr:
        return getattr(self, f"_{node.data}")(node, *node.children)

    def new_local(self) -> str:
        self.locals += 1
        return f"{sandbox.GENERATED_PREFIX}local_{self.locals}"

    # literals
    def _true(self, node: lark.Tree) -> ast.expr:
        return constant(True)

    def _false(self, node: lark.Tree) -> ast.expr:
        return constant(False)

    def _null(self, node: lark.Tree) -> ast.expr:
        return constant(None)

    def _number(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        text = str(token)
        if len(text) > MAX_INT_LITERAL_DIGITS + 20:
            raise self.error(token, "number literal is too long")
        if text.isdigit() and len(text) <= MAX_INT_LITERAL_DIGITS:
            return constant(int(text))
        return helper("feel_number", constant(text))

    def _string(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        text, result, position = str(token)[1:-1], [], 0
        while position < len(text):
            char = text[position]
            if char != "\\" or position + 1 == len(text):
                result.append(char)
                position += 1
                continue
            escaped = text[position + 1]
            code = text[position + 2:position + 6]
            if escaped == "u" and len(code) == 4 and all(c in _HEX for c in code):
                result.append(chr(int(code, 16)))
                position += 6
            else:
                result.append(_ESCAPES.get(escaped, escaped))
                position += 2
        return constant("".join(result))

    def _temporal(self, node: lark.Tree, token: lark.Token) -> ast.expr:
        text = self._string(node, token).value
        if feel_functions.temporal(text) is None:
            raise self.error(token, f"@{token} is not a date, time, date-time or duration")
        return helper("feel_temporal", constant(text))

    def _list(self, node: lark.Tree, *elements) -> ast.expr:
        return ast.List(elts=[self.visit(element) for element in elements], ctx=ast.Load())

    def _context(self, node: lark.Tree, *entries) -> ast.expr:
        keys, values = [], []
        for entry in entries:
            key, value = entry.children
            text = str(key)[1:-1] if isinstance(key, lark.Token) else _name_text(key)
            keys.append(constant(text))
            values.append(self.visit(value))
        return ast.Dict(keys=keys, values=values)

    def _interval(self, node: lark.Tree, opening: lark.Token, start, end, closing) -> ast.expr:
        return helper("feel_interval", self.visit(start), self.visit(end),
                      constant(str(opening) == "["), constant(closing.data == "closed_end"))

    # unary tests (decision table input entries)
    def _input_value(self, node: lark.Tree) -> ast.expr:
        if not self.unary:
            raise self.error(node, "'?' (the input value) is only known in a decision "
                                   "table's input entries")
        return helper("feel_var", scope(), constant(INPUT_NAME))

    def _positive_tests(self, node: lark.Tree, *tests) -> ast.expr:
        result = self._cell_test(tests[0])
        for test in tests[1:]:
            result = helper("feel_or", result, self._cell_test(test))
        return result

    def _negated_tests(self, node: lark.Tree, opening: lark.Token, *tests) -> ast.expr:
        return helper("feel_not", self._positive_tests(node, *tests))

    def _cell_test(self, test: lark.Tree) -> ast.expr:
        """One test: a comparison with the input; an expression of `?`, itself the outcome;
        else a value the input must equal, fall in (a range) or be one of (a list)."""
        if test.data == "cell_compare":
            symbol, operand = test.children
            return helper("feel_compare", constant(str(symbol)), self._input_value(test),
                          self.visit(operand))
        (expression,) = test.children
        if any(isinstance(part, lark.Tree) and part.data == "input_value"
               for part in expression.iter_subtrees()):
            return helper("feel_test_outcome", self.visit(expression))
        pair = ast.Tuple(elts=[constant(""), self.visit(expression)], ctx=ast.Load())
        return helper("feel_in", self._input_value(test), ast.Tuple(elts=[pair], ctx=ast.Load()))

    # logic and comparisons
    def _if_expr(self, node: lark.Tree, test, then, otherwise) -> ast.expr:
        return ast.IfExp(test=helper("feel_true", self.visit(test)), body=self.visit(then),
                         orelse=self.visit(otherwise))

    def _or_op(self, node: lark.Tree, left, right) -> ast.expr:
        return helper("feel_or", self.visit(left), self.visit(right))

    def _and_op(self, node: lark.Tree, left, right) -> ast.expr:
        return helper("feel_and", self.visit(left), self.visit(right))

    def _compare(self, node: lark.Tree, left, op: lark.Token, right) -> ast.expr:
        return helper("feel_compare", constant(str(op)), self.visit(left), self.visit(right))

    def _between(self, node: lark.Tree, value, low, high) -> ast.expr:
        return helper("feel_between", self.visit(value), self.visit(low), self.visit(high))

    def _in_test(self, node: lark.Tree, value, *tests) -> ast.expr:
        pairs = []
        for test in tests:
            if test.data == "unary_compare":
                symbol, operand = test.children
                pairs.append(ast.Tuple(elts=[constant(str(symbol)), self.visit(operand)],
                                       ctx=ast.Load()))
            else:
                pairs.append(ast.Tuple(elts=[constant(""), self.visit(test.children[0])],
                                       ctx=ast.Load()))
        return helper("feel_in", self.visit(value), ast.Tuple(elts=pairs, ctx=ast.Load()))

    def _arith(self, node: lark.Tree, left, op: lark.Token, right) -> ast.expr:
        return helper("feel_arith", constant(str(op)), self.visit(left), self.visit(right))

    def _neg(self, node: lark.Tree, operand) -> ast.expr:
        return helper("feel_neg", self.visit(operand))

    # names, paths, filters, calls
    def _variable(self, node: lark.Tree, name) -> ast.expr:
        text = _name_text(name)
        resolved: ast.expr = helper("feel_var", scope(), constant(text))
        for kind, frame in self.frames:  # outermost first: inner frames wrap or replace
            if kind == "bound" and text in frame:
                resolved = _local(frame[text])
            elif kind == "item":
                resolved = _local(frame) if text == "item" else \
                    helper("feel_member_or", _local(frame), constant(text), resolved)
        return resolved

    def _path(self, node: lark.Tree, base, name) -> ast.expr:
        return helper("feel_path", self.visit(base), constant(_name_text(name)))

    def _filter(self, node: lark.Tree, base, subscript) -> ast.expr:
        if _is_number_literal(subscript):
            return helper("feel_position", self.visit(base), self.visit(subscript))
        item = self.new_local()
        self.frames.append(("item", item))
        try:
            test = self.visit(subscript)
        finally:
            self.frames.pop()
        walk = ast.comprehension(target=ast.Name(id=item, ctx=ast.Store()),
                                 iter=helper("feel_items", self.visit(base)), ifs=[], is_async=0)
        return helper("feel_select", self.visit(base), ast.ListComp(elt=test, generators=[walk]))

    def _call(self, node: lark.Tree, name, *arguments) -> ast.expr:
        function = _name_text(name)
        args = list(arguments[0].children) if arguments else []
        known = feel_functions.BUILTINS.get(function)
        if known is None:
            raise self.error(name, f"unknown function '{function}'")
        _, least, most = known
        if not least <= len(args) <= most:
            expected = str(least) if least == most else f"{least} to {most}" if most < 1000 \
                else f"at least {least}"
            raise self.error(name, f"function '{function}' takes {expected} argument"
                                   f"{'' if expected == '1' else 's'}, not {len(args)}")
        return helper("feel_call", constant(function), *(self.visit(arg) for arg in args))

    # iterations
    def _iterations(self, iterations: list[lark.Tree]) -> list[ast.comprehension]:
        """Comprehension clauses binding each iteration's name; later sources see earlier names."""
        generators = []
        for iteration in iterations:
            name, *bounds = iteration.children
            source = helper("feel_iteration_range", *map(self.visit, bounds)) if len(bounds) == 2 \
                else helper("feel_items", self.visit(bounds[0]))
            local = self.new_local()
            self.frames.append(("bound", {_name_text(name): local}))
            generators.append(ast.comprehension(target=ast.Name(id=local, ctx=ast.Store()),
                                                iter=source, ifs=[], is_async=0))
        return generators

    def _iterated(self, iterations: list[lark.Tree], body) -> ast.ListComp:
        depth = len(self.frames)
        try:
            generators = self._iterations(iterations)
            return ast.ListComp(elt=self.visit(body), generators=generators)
        finally:
            del self.frames[depth:]

    def _quantified(self, node: lark.Tree, quantifier: lark.Token, *rest) -> ast.expr:
        *iterations, test = rest
        return helper(f"feel_{quantifier}", self._iterated(iterations, test))

    def _for_expr(self, node: lark.Tree, *rest) -> ast.expr:
        *iterations, body = rest
        return self._iterated(iterations, body)


def _is_number_literal(node: lark.Tree | lark.Token) -> bool:
    if isinstance(node, lark.Tree) and node.data == "neg":
        return _is_number_literal(node.children[0])
    return isinstance(node, lark.Tree) and node.data == "number"


HELPERS: dict[str, object] = {
    **{f"{sandbox.GENERATED_PREFIX}feel_{name}": function
       for name, function in feel_runtime.HELPERS_BY_NAME.items()},
    f"{sandbox.GENERATED_PREFIX}feel_call": feel_functions.call,
    f"{sandbox.GENERATED_PREFIX}feel_temporal": feel_functions.temporal,
}

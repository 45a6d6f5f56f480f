"""What translating a JavaScript or a Groovy script into Python for the sandbox shares: the
generated names the code keeps its state in, the script's line on the generated statements,
and the frame of a translator (ScriptTranslator).

The frame dispatches on the parse tree's rules (`_s_<rule>` for a statement, `_e_<rule>` for
an expression), translates the statements both languages write alike (blocks, if, while,
the C-style for, break and continue), keeps the parameters of callbacks and closures in
scope and translates calls of Camunda's execution and task API. A language's translator
adds the rest: its expressions, its own statements and `truth`, how it tests a value.
"""
from __future__ import annotations

import ast
from typing import Any, Mapping

import lark

from engine import sandbox

from . import camunda_api
from .parsing import ExpressionSyntaxError, constant, located, position_of


def load(name: str) -> ast.expr:
    """The generated name `_sandbox_<name>` (env, data, extra, a loop's item...)."""
    return ast.Name(id=sandbox.GENERATED_PREFIX + name, ctx=ast.Load())


def store(name: str) -> ast.expr:
    return ast.Name(id=sandbox.GENERATED_PREFIX + name, ctx=ast.Store())


def env_item(name: str, ctx: ast.expr_context) -> ast.Subscript:
    """The script's own variable `name`: an entry of `_sandbox_env`, never a Python name."""
    return ast.Subscript(value=load("env"), slice=constant(name), ctx=ctx)


def is_tree(node: Any, *rules: str) -> bool:
    return isinstance(node, lark.Tree) and node.data in rules


def unescape(text: str, escapes: Mapping[str, str], hex_digits: Mapping[str, int]) -> str:
    """A string literal's text with its backslash escapes read: a letter of `hex_digits`
    followed by that many hex digits is that character (`\\u00e9`), one of `escapes` its
    character, any other escaped character itself."""
    result, position = [], 0
    while position < len(text):
        char = text[position]
        if char != "\\":
            result.append(char)
            position += 1
            continue
        following = text[position + 1:position + 2]
        digits = hex_digits.get(following)
        if digits and len(text) >= position + 2 + digits:
            try:
                result.append(chr(int(text[position + 2:position + 2 + digits], 16)))
                position += 2 + digits
                continue
            except ValueError:
                pass
        result.append(escapes.get(following, following))
        position += 2
    return "".join(result)


def _located(statements: list[ast.stmt], node: Any) -> list[ast.stmt]:
    """Give the generated code the script's line, so that run-time errors name it (nested
    statements already have their own)."""
    meta = getattr(node, "meta", None)
    line = getattr(meta, "line", None) if meta is not None and not meta.empty else None
    if line is None:
        return statements
    for statement in statements:
        for child in ast.walk(statement):
            if "lineno" in child._attributes and getattr(child, "lineno", None) is None:
                child.lineno = child.end_lineno = line
                child.col_offset = child.end_col_offset = 0
    return statements


class ScriptTranslator:
    def __init__(self, source: str, offset: int = 0):
        self.source = source
        self.offset = offset                      # where the parsed text starts in `source`
        self.params: list[dict[str, str]] = []   # callback or closure parameters in scope
        self.counter = 0
        self.loops = 0

    def error(self, node: Any, reason: str) -> ExpressionSyntaxError:
        return located(self.source, position_of(node, self.offset), reason)

    def fresh(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}{self.counter}"

    def truth(self, node: Any) -> ast.expr:
        """Whether the value of `node` counts as true, as the language has it."""
        raise NotImplementedError

    # ------------------------------------------------------------------ statements

    def statements(self, nodes: list) -> list[ast.stmt]:
        body: list[ast.stmt] = []
        for node in nodes:
            body.extend(self.statement(node))
        return body

    def statement(self, node: Any) -> list[ast.stmt]:
        if isinstance(node, lark.Token):  # a lone `break`, `continue`
            raise self.error(node, f"unexpected {node!s}")
        method = getattr(self, f"_s_{node.data}", None)
        if method is None:
            translated = [ast.Assign(targets=[store("completion")], value=self.expr(node))]
        else:
            translated = method(node, *node.children)
        return _located(translated, node)

    def block_body(self, node: Any) -> list[ast.stmt]:
        return self.statements(node.children) if is_tree(node, "block") \
            else self.statement(node)

    def _s_block(self, node, *children) -> list[ast.stmt]:
        return self.statements(list(children))

    def _s_empty_stmt(self, node) -> list[ast.stmt]:
        return []

    def _s_if_stmt(self, node, test, body, orelse) -> list[ast.stmt]:
        return [ast.If(test=self.truth(test), body=self.block_body(body) or [ast.Pass()],
                       orelse=self.block_body(orelse) if orelse is not None else [])]

    def loop_body(self, node: Any) -> list[ast.stmt]:
        self.loops += 1
        try:
            return self.block_body(node) or [ast.Pass()]
        finally:
            self.loops -= 1

    def _s_while_stmt(self, node, test, body) -> list[ast.stmt]:
        return [ast.While(test=self.truth(test), body=self.loop_body(body), orelse=[])]

    def _s_for_stmt(self, node, init, test, step, body) -> list[ast.stmt]:
        """`for (init; test; step)`: a `while True` whose top runs the step from the second
        round on, so that `continue` steps too."""
        first = self.fresh("first")
        prologue = [] if init is None else self.statement(init) \
            if is_tree(init, "declaration", "assignment", "update") \
            else [ast.Expr(self.expr(init))]
        steps = []
        if step is not None:
            steps = self.statement(step) if is_tree(step, "assignment", "update") \
                else [ast.Expr(self.expr(step))]
        loop = [ast.If(test=ast.UnaryOp(op=ast.Not(), operand=load(first)), body=steps or
                       [ast.Pass()], orelse=[]),
                ast.Assign(targets=[store(first)], value=constant(False))]
        if test is not None:
            loop.append(ast.If(test=ast.UnaryOp(op=ast.Not(), operand=self.truth(test)),
                               body=[ast.Break()], orelse=[]))
        loop.extend(self.loop_body(body))
        return [*prologue, ast.Assign(targets=[store(first)], value=constant(True)),
                ast.While(test=constant(True), body=loop, orelse=[])]

    def _s_break_stmt(self, node, token) -> list[ast.stmt]:
        if not self.loops:
            raise self.error(token, "'break' outside a loop")
        return [ast.Break()]

    def _s_continue_stmt(self, node, token) -> list[ast.stmt]:
        if not self.loops:
            raise self.error(token, "'continue' outside a loop")
        return [ast.Continue()]

    # ------------------------------------------------------------------ expressions

    def expr(self, node: Any) -> ast.expr:
        if isinstance(node, lark.Token):
            raise self.error(node, f"unexpected {node!s}")
        method = getattr(self, f"_e_{node.data}", None)
        if method is None:
            raise self.error(node, f"{node.data.replace('_', ' ')} is not supported here")
        return method(node, *node.children)

    def _e_true(self, node) -> ast.expr:
        return constant(True)

    def _e_false(self, node) -> ast.expr:
        return constant(False)

    def _e_null(self, node) -> ast.expr:
        return constant(None)

    def _e_choice(self, node, test, body, orelse) -> ast.expr:
        return ast.IfExp(test=self.truth(test), body=self.expr(body), orelse=self.expr(orelse))

    def _e_not_op(self, node, operand) -> ast.expr:
        return ast.UnaryOp(op=ast.Not(), operand=self.truth(operand))

    def camunda_call(self, owner: str, name: lark.Token, args: list) -> ast.expr:
        """`execution.method(args)` or `task.method(args)` (camunda_api)."""
        method = str(name)
        if owner == "task" and method in camunda_api.UNAVAILABLE_TASK_METHODS:
            error = self.error(name, f"task.{method}() is not available in DutyFlow's "
                                     "listeners (they read and write process data)")
            raise camunda_api.UnavailableApi(error.reason, error.line, error.column)
        reason = camunda_api.problem(owner, method, len(args))
        if reason is not None:
            raise self.error(name, reason)
        return camunda_api.translate(method, [self.expr(arg) for arg in args])

    # ------------------------------------------------------- callback/closure parameters

    def bind(self, params: list[str]) -> tuple[str, str]:
        """Generated names for a callback's or closure's item and index (or a map entry's
        key and value), in scope under the parameters' names until `self.params.pop()`."""
        item, index = self.fresh("p"), self.fresh("p")
        scope = {}
        if params:
            scope[params[0]] = item
        if len(params) > 1:
            scope[params[1]] = index
        self.params.append(scope)
        return item, index

    def param(self, name: str) -> str | None:
        for scope in reversed(self.params):
            if name in scope:
                return scope[name]
        return None

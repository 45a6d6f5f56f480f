"""JavaScript scripts (an ECMAScript 5 subset, as Camunda 7 diagrams carry them with
`scriptFormat="javascript"`): parse with the grammar in javascript.lark and translate the
tree into Python statements that the sandbox checks, rewrites and runs like a Python script.

The translation never turns a designer's identifier into a Python name or attribute: the
script's own variables are entries of `_sandbox_env`, process variables are read from
`_sandbox_data` and written only through `execution.setVariable`, properties and methods
go through javascript_runtime's helpers. A callback (`items.map(x => x * 2)`) becomes a
comprehension or a loop whose parameter is a generated `_sandbox_p<N>` name.

What the subset leaves out is refused when the diagram deploys, with its line and column:
function declarations, `new`, `this`, regular expressions, template literals, `delete`,
`instanceof`, try/catch, switch, Java interop (`Java.type`) and calls of anything but the
functions, methods and Camunda API listed in javascript_runtime.
"""
from __future__ import annotations

import ast
import re
from typing import Any

import lark

from engine import sandbox

from . import camunda_api, javascript_runtime
from .parsing import ExpressionSyntaxError, constant, helper, located, position_of
from .script_languages import ScriptLanguage

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_UNSUPPORTED = {"this": "'this'", "new": "'new'", "delete": "'delete'", "void": "'void'",
                "instanceof": "'instanceof'"}
_NAMESPACES = ("Math", "JSON", "console", "Array", "Object")


class UnavailableApi(ExpressionSyntaxError):
    """A script calls Camunda API that DutyFlow has no counterpart for (task.setAssignee):
    a listener using it deploys left out with a warning, as Java listeners do."""


_UNSUPPORTED_STATEMENTS = ("switch", "try", "catch", "finally", "throw", "do", "class", "with",
                           "import", "export", "yield", "async", "await", "debugger")


def _named_refusal(source: str, err: ExpressionSyntaxError) -> ExpressionSyntaxError:
    """A parse error at a word of JavaScript the subset leaves out says so."""
    if err.line is None or err.column is None:
        return err
    lines = source.split("\n")
    rest = lines[err.line - 1][err.column - 1:] if err.line <= len(lines) else ""
    match = re.match(r"[A-Za-z]+", rest)
    word = match.group(0) if match else ""
    if word in _UNSUPPORTED_STATEMENTS:
        return ExpressionSyntaxError(f"'{word}' is not supported in DutyFlow's JavaScript",
                                     err.line, err.column)
    return err


def _translate(source: str, tree: lark.Tree) -> list[ast.stmt]:
    return _Translator(source).statements(tree.children)


def _load(name: str) -> ast.expr:
    return ast.Name(id=sandbox.GENERATED_PREFIX + name, ctx=ast.Load())


def _store(name: str) -> ast.expr:
    return ast.Name(id=sandbox.GENERATED_PREFIX + name, ctx=ast.Store())


def _js(name: str, *args: ast.expr) -> ast.Call:
    return helper("js_" + name, *args)


def _env_item(name: str, ctx: ast.expr_context) -> ast.Subscript:
    return ast.Subscript(value=_load("env"), slice=constant(name), ctx=ctx)


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


class _Translator:
    def __init__(self, source: str):
        self.source = source
        self.params: list[dict[str, str]] = []   # callback parameters in scope
        self.counter = 0
        self.loops = 0
        self.callback_body = 0                   # inside forEach's body: return = continue
        self.constants: set[str] = set()

    def error(self, node: Any, reason: str) -> ExpressionSyntaxError:
        return located(self.source, position_of(node, 0), reason)

    def fresh(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}{self.counter}"

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
            translated = [ast.Assign(targets=[_store("completion")], value=self.expr(node))]
        else:
            translated = method(node, *node.children)
        return _located(translated, node)

    def block_body(self, node: Any) -> list[ast.stmt]:
        return self.statements(node.children) if isinstance(node, lark.Tree) and \
            node.data == "block" else self.statement(node)

    def _s_block(self, node, *children) -> list[ast.stmt]:
        return self.statements(list(children))

    def _s_empty_stmt(self, node) -> list[ast.stmt]:
        return []

    def _s_expr_stmt(self, node, expression) -> list[ast.stmt]:
        if isinstance(expression, lark.Tree) and expression.data == "call":
            loop = self.callback_loop(expression)
            if loop is not None:
                return loop
        return [ast.Assign(targets=[_store("completion")], value=self.expr(expression))]

    def _s_declaration(self, node, keyword, *declarators) -> list[ast.stmt]:
        body = []
        for declarator in declarators:
            name, value = declarator.children
            self.check_name(name)
            if self.param(str(name)) is not None:
                raise self.error(name, f"'{name}' is already a function parameter here")
            if str(keyword) == "const":
                self.constants.add(str(name))
            translated = self.expr(value) if value is not None else _load("js_undefined")
            body.append(ast.Assign(targets=[_env_item(str(name), ast.Store())],
                                   value=translated))
        return body

    def _s_assignment(self, node, target, op, value) -> list[ast.stmt]:
        operator = str(op)[:-1]
        new_value = self.expr(value)
        if operator:
            new_value = self.binary(operator, self.expr(target), new_value)
        return self.assign(target, new_value)

    def _s_update(self, node, first, second) -> list[ast.stmt]:
        target, op = (second, first) if isinstance(first, lark.Token) \
            and str(first) in ("++", "--") else (first, second)
        step = "+" if str(op) == "++" else "-"
        return self.assign(target, _js("arith", constant(step), _js("pos", self.expr(target)),
                                       constant(1)))

    def assign(self, target: Any, value: ast.expr) -> list[ast.stmt]:
        if isinstance(target, lark.Tree) and target.data == "identifier":
            name = str(target.children[0])
            if self.param(name) is not None:
                raise self.error(target, f"assigning to the parameter '{name}' is not "
                                         "supported")
            if name in self.constants:
                raise self.error(target, f"TypeError: assignment to constant '{name}'")
            self.check_name(target.children[0])
            return [ast.Assign(targets=[_env_item(name, ast.Store())], value=value)]
        if isinstance(target, lark.Tree) and target.data in ("member", "index"):
            base, key = target.children
            key_expr = constant(str(key)) if target.data == "member" else self.expr(key)
            return [ast.Expr(_js("set_member", self.expr(base), key_expr, value))]
        raise self.error(target, "only a variable, a property or an array item can be "
                                 "assigned to")

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
            if init.data in ("declaration", "assignment", "update") else [ast.Expr(self.expr(init))]
        steps = []
        if step is not None:
            steps = self.statement(step) if step.data in ("assignment", "update") \
                else [ast.Expr(self.expr(step))]
        loop = [ast.If(test=ast.UnaryOp(op=ast.Not(), operand=_load(first)), body=steps or
                       [ast.Pass()], orelse=[]),
                ast.Assign(targets=[_store(first)], value=constant(False))]
        if test is not None:
            loop.append(ast.If(test=ast.UnaryOp(op=ast.Not(), operand=self.truth(test)),
                               body=[ast.Break()], orelse=[]))
        loop.extend(self.loop_body(body))
        return [*prologue, ast.Assign(targets=[_store(first)], value=constant(True)),
                ast.While(test=constant(True), body=loop, orelse=[])]

    def _s_for_of(self, node, keyword, name, _of, iterable, body) -> list[ast.stmt]:
        return self.for_each(name, _js("iterate_of", self.expr(iterable)), body, keyword)

    def _s_for_in(self, node, keyword, name, _in, iterable, body) -> list[ast.stmt]:
        return self.for_each(name, _js("iterate_in", self.expr(iterable)), body, keyword)

    def for_each(self, name: lark.Token, items: ast.expr, body: Any, keyword) -> list[ast.stmt]:
        self.check_name(name)
        if keyword is not None and str(keyword) == "const":
            self.constants.discard(str(name))
        item = self.fresh("item")
        assign = ast.Assign(targets=[_env_item(str(name), ast.Store())], value=_load(item))
        return [ast.For(target=_store(item), iter=items, body=[assign, *self.loop_body(body)],
                        orelse=[])]

    def _s_break_stmt(self, node, token) -> list[ast.stmt]:
        if not self.loops:
            raise self.error(token, "'break' outside a loop")
        return [ast.Break()]

    def _s_continue_stmt(self, node, token) -> list[ast.stmt]:
        if not self.loops:
            raise self.error(token, "'continue' outside a loop")
        return [ast.Continue()]

    def _s_return_stmt(self, node, token, value) -> list[ast.stmt]:
        if self.callback_body and not self.loops:
            return [ast.Continue()]  # the end of one forEach call
        translated = self.expr(value) if value is not None else _load("js_undefined")
        return [ast.Expr(helper("js_return", translated))]

    def _s_function_decl(self, node, token, *rest) -> list[ast.stmt]:
        raise self.error(token, "function declarations are not supported (write the steps "
                                "inline; functions are allowed only as callbacks of map, "
                                "filter, forEach, some, every, find)")

    # ------------------------------------------------------------------ expressions

    def truth(self, node: Any) -> ast.expr:
        return _js("truthy", self.expr(node))

    def expr(self, node: Any) -> ast.expr:
        if isinstance(node, lark.Token):
            raise self.error(node, f"unexpected {node!s}")
        method = getattr(self, f"_e_{node.data}", None)
        if method is None:
            raise self.error(node, f"{node.data.replace('_', ' ')} is not supported here")
        return method(node, *node.children)

    def _e_number(self, node, token) -> ast.expr:
        text = str(token)
        if len(text) > 40:
            raise self.error(token, "number literal is too long")
        if text.lower().startswith("0x"):
            return constant(int(text, 16))
        value = float(text)
        return constant(javascript_runtime._integral(value) if "." not in text
                        and "e" not in text.lower() else value)

    def _e_string(self, node, token) -> ast.expr:
        text = str(token)[1:-1]
        result, position = [], 0
        while position < len(text):
            char = text[position]
            if char != "\\":
                result.append(char)
                position += 1
                continue
            following = text[position + 1:position + 2]
            if following == "u" and len(text) >= position + 6:
                try:
                    result.append(chr(int(text[position + 2:position + 6], 16)))
                    position += 6
                    continue
                except ValueError:
                    pass
            if following == "x" and len(text) >= position + 4:
                try:
                    result.append(chr(int(text[position + 2:position + 4], 16)))
                    position += 4
                    continue
                except ValueError:
                    pass
            result.append(_ESCAPES.get(following, following))
            position += 2
        return constant("".join(result))

    def _e_true(self, node) -> ast.expr:
        return constant(True)

    def _e_false(self, node) -> ast.expr:
        return constant(False)

    def _e_null(self, node) -> ast.expr:
        return constant(None)

    def _e_undefined(self, node) -> ast.expr:
        return _load("js_undefined")

    def _e_unsupported(self, node, *children) -> ast.expr:
        token = next((child for child in children if isinstance(child, lark.Token)), node)
        text = str(token) if isinstance(token, lark.Token) else ""
        if text.startswith("/"):
            what = "regular expressions are"
        elif text.startswith("`"):
            what = "template literals are"
        else:
            word = text.strip() or "this"
            what = f"{_UNSUPPORTED.get(word, repr(word))} is"
        raise self.error(token, f"{what} not supported in DutyFlow's JavaScript")

    def _e_array(self, node, arguments) -> ast.expr:
        items = [self.expr(item) for item in arguments.children] if arguments else []
        return ast.List(elts=items, ctx=ast.Load())

    def _e_object(self, node, _open, *properties) -> ast.expr:
        keys, values = [], []
        for prop in properties:
            if prop is None:
                continue
            key, value = prop.children
            text = str(key)
            if key.type == "STRING":
                text = self._e_string(prop, key).value
            elif key.type == "NUMBER":
                text = javascript_runtime.to_string(self._e_number(prop, key).value)
            keys.append(constant(text))
            values.append(self.expr(value))
        return ast.Dict(keys=keys, values=values)

    def _e_identifier(self, node, name) -> ast.expr:
        text = str(name)
        param = self.param(text)
        if param is not None:
            return _load(param)
        if text in ("execution", "task"):
            raise self.error(name, f"'{text}' is used as {text}.method(...) "
                                   "(e.g. execution.getVariable('name'))")
        if text in _NAMESPACES or text == "Java" or text in javascript_runtime.FUNCTIONS:
            raise self.error(name, f"'{text}' can only be called here")
        self.check_name(name)
        return _js("get_name", _load("env"), _load("data"), _load("extra"), constant(text))

    def _e_member(self, node, base, name) -> ast.expr:
        dotted = self.dotted(node)
        if dotted is not None and dotted.split(".")[0] in (*_NAMESPACES, "Java"):
            raise self.error(name, f"{dotted} is not supported")
        return _js("member", self.expr(base), constant(str(name)))

    def _e_index(self, node, base, key) -> ast.expr:
        return _js("member", self.expr(base), self.expr(key))

    def _e_choice(self, node, test, body, orelse) -> ast.expr:
        return ast.IfExp(test=self.truth(test), body=self.expr(body), orelse=self.expr(orelse))

    def _e_or_op(self, node, left, right) -> ast.expr:
        temporary = self.fresh("t")
        return ast.IfExp(test=_js("truthy", ast.NamedExpr(target=_store(temporary),
                                                          value=self.expr(left))),
                         body=_load(temporary), orelse=self.expr(right))

    def _e_and_op(self, node, left, right) -> ast.expr:
        temporary = self.fresh("t")
        return ast.IfExp(test=_js("truthy", ast.NamedExpr(target=_store(temporary),
                                                          value=self.expr(left))),
                         body=self.expr(right), orelse=_load(temporary))

    def _e_not_op(self, node, operand) -> ast.expr:
        return ast.UnaryOp(op=ast.Not(), operand=self.truth(operand))

    def _e_sign(self, node, op, operand) -> ast.expr:
        return _js("neg" if str(op) == "-" else "pos", self.expr(operand))

    def _e_typeof(self, node, _word, operand) -> ast.expr:
        if isinstance(operand, lark.Tree) and operand.data == "identifier" \
                and self.param(str(operand.children[0])) is None:
            name = operand.children[0]
            self.check_name(name)
            return _js("typeof_name", _load("env"), _load("data"), _load("extra"),
                       constant(str(name)))
        return _js("typeof", self.expr(operand))

    def _e_equality(self, node, left, op, right) -> ast.expr:
        text = str(op)
        compared = _js("strict_eq" if len(text) == 3 else "loose_eq", self.expr(left),
                       self.expr(right))
        return ast.UnaryOp(op=ast.Not(), operand=compared) if text.startswith("!") else compared

    def _e_compare(self, node, left, op, right) -> ast.expr:
        return _js("less", constant(str(op)), self.expr(left), self.expr(right))

    def _e_in_op(self, node, left, _op, right) -> ast.expr:
        return _js("in", self.expr(left), self.expr(right))

    def _e_arith(self, node, left, op, right) -> ast.expr:
        return self.binary(str(op), self.expr(left), self.expr(right))

    def binary(self, operator: str, left: ast.expr, right: ast.expr) -> ast.expr:
        if operator == "+":
            return _js("add", left, right)
        return _js("arith", constant(operator), left, right)

    def _e_arrow(self, node, *children) -> ast.expr:
        raise self.error(node, "a function is supported only as the callback of map, "
                               "filter, forEach, some, every or find")

    _e_function_expr = _e_arrow

    def _e_call(self, node, callee, arguments) -> ast.expr:
        args = list(arguments.children) if arguments is not None else []
        dotted = self.dotted(callee)
        if dotted is not None and dotted in javascript_runtime.FUNCTIONS and \
                self.param(dotted.split(".")[0]) is None and dotted not in self.constants:
            return _js("call_function", constant(dotted), *[self.expr(arg) for arg in args])
        if isinstance(callee, lark.Tree) and callee.data == "member":
            base, name = callee.children
            method = str(name)
            if isinstance(base, lark.Tree) and base.data == "identifier" and \
                    str(base.children[0]) in ("execution", "task") and \
                    self.param(str(base.children[0])) is None:
                return self.camunda_call(str(base.children[0]), name, args)
            if dotted is not None and dotted.split(".")[0] in (*_NAMESPACES, "Java"):
                raise self.error(name, f"{dotted}() is not supported")
            if method in javascript_runtime.CALLBACK_METHODS:
                return self.callback_expression(node, base, name, args)
            receiver = self.expr(base)  # its own refusals come first, in reading order
            if method not in javascript_runtime.METHOD_NAMES:
                raise self.error(name, f"method {method}() is not supported")
            translated = [self.expr(arg) for arg in args]
            if method in ("getValue", "getValueSerialized"):
                return _js("typed_method", receiver, constant(method))
            return _js("call_method", receiver, constant(method), *translated)
        where = callee if isinstance(callee, lark.Tree) else node
        shown = f"{dotted}()" if dotted else "this call"
        raise self.error(where, f"{shown} is not supported: scripts call the functions, "
                                "methods and execution API DutyFlow lists, not their own")

    def camunda_call(self, owner: str, name: lark.Token, args: list) -> ast.expr:
        method = str(name)
        if owner == "task" and method in camunda_api.UNAVAILABLE_TASK_METHODS:
            error = self.error(name, f"task.{method}() is not available in DutyFlow's "
                                     "listeners (they read and write process data)")
            raise UnavailableApi(error.reason, error.line, error.column)
        reason = camunda_api.problem(owner, method, len(args))
        if reason is not None:
            raise self.error(name, reason)
        return camunda_api.translate(method, [self.expr(arg) for arg in args])

    # ------------------------------------------------------------------ callbacks

    def callback(self, node: Any, args: list, count: int) -> tuple[list[str], Any]:
        """The parameter names and body of the one function argument of a callback method."""
        if len(args) != 1 or not isinstance(args[0], lark.Tree) or \
                args[0].data not in ("arrow", "function_expr"):
            raise self.error(node, "this method takes one function, e.g. x => x * 2")
        function = args[0]
        if function.data == "arrow":
            head, body = function.children
            names = str(head).rstrip("=>").strip().strip("()").split(",")
            params = [name.strip() for name in names if name.strip()]
        else:
            _word, param_list, body = function.children
            params = [str(name) for name in param_list.children] if param_list else []
        if len(params) > count:
            raise self.error(function, f"the callback takes at most {count} parameters here")
        for name in params:
            if name.startswith("_"):
                raise self.error(function, f"name '{name}' is not allowed")
        return params, body

    def returned(self, body: Any) -> Any:
        """The expression a callback gives: its body, or the value of its one `return`."""
        if isinstance(body, lark.Tree) and body.data == "block":
            statements = [child for child in body.children
                          if not (isinstance(child, lark.Tree) and child.data == "empty_stmt")]
            if len(statements) == 1 and isinstance(statements[0], lark.Tree) \
                    and statements[0].data == "return_stmt" and statements[0].children[1]:
                return statements[0].children[1]
            raise self.error(body, "a callback of map, filter, some, every or find is one "
                                   "expression or one return statement")
        return body

    def bind(self, params: list[str]) -> tuple[str, str]:
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

    def callback_expression(self, node: Any, base: Any, name: lark.Token,
                            args: list) -> ast.expr:
        method = str(name)
        if method == "forEach":
            raise self.error(name, "forEach is a statement of its own")
        params, body = self.callback(node, args, 2)
        items = self.expr(base)
        item, index = self.bind(params)
        try:
            value = self.expr(self.returned(body))
        finally:
            self.params.pop()
        generator = [ast.comprehension(
            target=ast.Tuple(elts=[_store(index), _store(item)], ctx=ast.Store()),
            iter=ast.Call(func=ast.Name(id="enumerate", ctx=ast.Load()),
                          args=[_js("iterate_of", items)], keywords=[]),
            ifs=[], is_async=0)]
        if method == "map":
            return ast.ListComp(elt=value, generators=generator)
        if method == "filter":
            generator[0].ifs = [_js("truthy", value)]
            return ast.ListComp(elt=_load(item), generators=generator)
        truth = ast.GeneratorExp(elt=_js("truthy", value), generators=generator)
        if method == "some":
            return ast.Call(func=ast.Name(id="any", ctx=ast.Load()), args=[truth], keywords=[])
        if method == "every":
            return ast.Call(func=ast.Name(id="all", ctx=ast.Load()), args=[truth], keywords=[])
        generator[0].ifs = [_js("truthy", value)]
        found = ast.GeneratorExp(elt=_load(item if method == "find" else index),
                                 generators=generator)
        missing = _load("js_undefined") if method == "find" else constant(-1)
        return _js("first", found, missing)

    def callback_loop(self, node: lark.Tree) -> list[ast.stmt] | None:
        """`items.forEach(function (item, index) { ... })` as a statement: a loop."""
        callee, arguments = node.children
        if not (isinstance(callee, lark.Tree) and callee.data == "member"
                and str(callee.children[1]) == "forEach"):
            return None
        params, body = self.callback(node, list(arguments.children) if arguments else [], 2)
        items = self.expr(callee.children[0])
        item, index = self.bind(params)
        saved_loops, self.loops = self.loops, 0
        self.callback_body += 1
        try:
            statements = self.block_body(body) if isinstance(body, lark.Tree) and \
                body.data == "block" else [ast.Expr(self.expr(body))]
        finally:
            self.params.pop()
            self.loops = saved_loops
            self.callback_body -= 1
        return [ast.For(target=ast.Tuple(elts=[_store(index), _store(item)], ctx=ast.Store()),
                        iter=ast.Call(func=ast.Name(id="enumerate", ctx=ast.Load()),
                                      args=[_js("iterate_of", items)], keywords=[]),
                        body=statements or [ast.Pass()], orelse=[])]

    # ------------------------------------------------------------------ helpers

    def dotted(self, node: Any) -> str | None:
        """`Math.max` for the tree of `Math.max`, None for anything but names and dots."""
        if isinstance(node, lark.Tree) and node.data == "identifier":
            return str(node.children[0])
        if isinstance(node, lark.Tree) and node.data == "member":
            base = self.dotted(node.children[0])
            return f"{base}.{node.children[1]}" if base is not None else None
        return None

    def check_name(self, name: Any) -> None:
        if str(name).startswith("_"):
            raise self.error(name, f"name '{name}' is not allowed")


JAVASCRIPT = ScriptLanguage(formats=("javascript", "js", "ecmascript", "nashorn", "graal.js",
                                     "graaljs"),
                            grammar="javascript.lark", translate=_translate,
                            refusal=_named_refusal, helpers=javascript_runtime.HELPERS,
                            to_plain=javascript_runtime.to_plain)
# By the module's name, as its tests call them (javascript.run).
run = JAVASCRIPT.run
check_script = JAVASCRIPT.check_script

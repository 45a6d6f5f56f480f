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

from . import javascript_runtime
from .parsing import ExpressionSyntaxError, constant, helper
from .script_languages import ScriptLanguage
from .script_translation import ScriptTranslator, env_item, load, store, unescape

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_UNSUPPORTED = {"this": "'this'", "new": "'new'", "delete": "'delete'", "void": "'void'",
                "instanceof": "'instanceof'"}
_NAMESPACES = ("Math", "JSON", "console", "Array", "Object")
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


def _js(name: str, *args: ast.expr) -> ast.Call:
    return helper("js_" + name, *args)


class _Translator(ScriptTranslator):
    def __init__(self, source: str):
        super().__init__(source)
        self.callback_body = 0                   # inside forEach's body: return = continue
        self.constants: set[str] = set()

    # ------------------------------------------------------------------ statements

    def _s_expr_stmt(self, node, expression) -> list[ast.stmt]:
        if isinstance(expression, lark.Tree) and expression.data == "call":
            loop = self.callback_loop(expression)
            if loop is not None:
                return loop
        return [ast.Assign(targets=[store("completion")], value=self.expr(expression))]

    def _s_declaration(self, node, keyword, *declarators) -> list[ast.stmt]:
        body = []
        for declarator in declarators:
            name, value = declarator.children
            self.check_name(name)
            if self.param(str(name)) is not None:
                raise self.error(name, f"'{name}' is already a function parameter here")
            if str(keyword) == "const":
                self.constants.add(str(name))
            translated = self.expr(value) if value is not None else load("js_undefined")
            body.append(ast.Assign(targets=[env_item(str(name), ast.Store())],
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
            return [ast.Assign(targets=[env_item(name, ast.Store())], value=value)]
        if isinstance(target, lark.Tree) and target.data in ("member", "index"):
            base, key = target.children
            key_expr = constant(str(key)) if target.data == "member" else self.expr(key)
            return [ast.Expr(_js("set_member", self.expr(base), key_expr, value))]
        raise self.error(target, "only a variable, a property or an array item can be "
                                 "assigned to")

    def _s_for_of(self, node, keyword, name, _of, iterable, body) -> list[ast.stmt]:
        return self.for_each(name, _js("iterate_of", self.expr(iterable)), body, keyword)

    def _s_for_in(self, node, keyword, name, _in, iterable, body) -> list[ast.stmt]:
        return self.for_each(name, _js("iterate_in", self.expr(iterable)), body, keyword)

    def for_each(self, name: lark.Token, items: ast.expr, body: Any, keyword) -> list[ast.stmt]:
        self.check_name(name)
        if keyword is not None and str(keyword) == "const":
            self.constants.discard(str(name))
        item = self.fresh("item")
        assign = ast.Assign(targets=[env_item(str(name), ast.Store())], value=load(item))
        return [ast.For(target=store(item), iter=items, body=[assign, *self.loop_body(body)],
                        orelse=[])]

    def _s_return_stmt(self, node, token, value) -> list[ast.stmt]:
        if self.callback_body and not self.loops:
            return [ast.Continue()]  # the end of one forEach call
        translated = self.expr(value) if value is not None else load("js_undefined")
        return [ast.Expr(helper("js_return", translated))]

    def _s_function_decl(self, node, token, *rest) -> list[ast.stmt]:
        raise self.error(token, "function declarations are not supported (write the steps "
                                "inline; functions are allowed only as callbacks of map, "
                                "filter, forEach, some, every, find)")

    # ------------------------------------------------------------------ expressions

    def truth(self, node: Any) -> ast.expr:
        return _js("truthy", self.expr(node))

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
        return constant(unescape(str(token)[1:-1], _ESCAPES, {"u": 4, "x": 2}))

    def _e_undefined(self, node) -> ast.expr:
        return load("js_undefined")

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
            return load(param)
        if text in ("execution", "task"):
            raise self.error(name, f"'{text}' is used as {text}.method(...) "
                                   "(e.g. execution.getVariable('name'))")
        if text in _NAMESPACES or text == "Java" or text in javascript_runtime.FUNCTIONS:
            raise self.error(name, f"'{text}' can only be called here")
        self.check_name(name)
        return _js("get_name", load("env"), load("data"), load("extra"), constant(text))

    def _e_member(self, node, base, name) -> ast.expr:
        dotted = self.dotted(node)
        if dotted is not None and dotted.split(".")[0] in (*_NAMESPACES, "Java"):
            raise self.error(name, f"{dotted} is not supported")
        return _js("member", self.expr(base), constant(str(name)))

    def _e_index(self, node, base, key) -> ast.expr:
        return _js("member", self.expr(base), self.expr(key))

    def _e_or_op(self, node, left, right) -> ast.expr:
        temporary = self.fresh("t")
        return ast.IfExp(test=_js("truthy", ast.NamedExpr(target=store(temporary),
                                                          value=self.expr(left))),
                         body=load(temporary), orelse=self.expr(right))

    def _e_and_op(self, node, left, right) -> ast.expr:
        temporary = self.fresh("t")
        return ast.IfExp(test=_js("truthy", ast.NamedExpr(target=store(temporary),
                                                          value=self.expr(left))),
                         body=self.expr(right), orelse=load(temporary))

    def _e_sign(self, node, op, operand) -> ast.expr:
        return _js("neg" if str(op) == "-" else "pos", self.expr(operand))

    def _e_typeof(self, node, _word, operand) -> ast.expr:
        if isinstance(operand, lark.Tree) and operand.data == "identifier" \
                and self.param(str(operand.children[0])) is None:
            name = operand.children[0]
            self.check_name(name)
            return _js("typeof_name", load("env"), load("data"), load("extra"),
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
            target=ast.Tuple(elts=[store(index), store(item)], ctx=ast.Store()),
            iter=ast.Call(func=ast.Name(id="enumerate", ctx=ast.Load()),
                          args=[_js("iterate_of", items)], keywords=[]),
            ifs=[], is_async=0)]
        if method == "map":
            return ast.ListComp(elt=value, generators=generator)
        if method == "filter":
            generator[0].ifs = [_js("truthy", value)]
            return ast.ListComp(elt=load(item), generators=generator)
        truth = ast.GeneratorExp(elt=_js("truthy", value), generators=generator)
        if method == "some":
            return ast.Call(func=ast.Name(id="any", ctx=ast.Load()), args=[truth], keywords=[])
        if method == "every":
            return ast.Call(func=ast.Name(id="all", ctx=ast.Load()), args=[truth], keywords=[])
        generator[0].ifs = [_js("truthy", value)]
        found = ast.GeneratorExp(elt=load(item if method == "find" else index),
                                 generators=generator)
        missing = load("js_undefined") if method == "find" else constant(-1)
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
        return [ast.For(target=ast.Tuple(elts=[store(index), store(item)], ctx=ast.Store()),
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

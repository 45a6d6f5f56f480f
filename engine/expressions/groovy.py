"""Groovy scripts (a subset, as Camunda 7 diagrams carry them with `scriptFormat="groovy"`):
parse with the grammar in groovy.lark and translate the tree into Python statements that
the sandbox checks, rewrites and runs like a Python script, as engine.expressions.javascript
does for JavaScript.

The translation never turns a designer's identifier into a Python name or attribute: the
script's own variables are entries of `_sandbox_env`, process variables are read from
`_sandbox_data` and written only through `execution.setVariable`, properties and methods
go through groovy_runtime's helpers. A closure (`items.collect { it * 2 }`) becomes a
comprehension or a loop whose parameter is a generated `_sandbox_p<N>` name.

Numbers: whole literals are ints, decimal literals (`1.5`) are Python Decimals, as Groovy's
are BigDecimal (`1.5d`/`1.5f` are floats); `int / int` is exact (a Decimal unless whole).

What the subset leaves out is refused when the diagram deploys, with its line and column:
`new`, `class`, `import`, `this`, annotations, regular expressions (`~/.../`, `=~`, `==~`),
Java classes and Groovy's own (`System`, `Runtime`, `Eval`), `evaluate`, `.execute()`,
metaprogramming (`metaClass`, `invokeMethod`), closures anywhere but as the argument of
the list methods groovy_runtime.CLOSURE_METHODS, and calls of anything but the listed methods
and Camunda API.
"""
from __future__ import annotations

import ast
from decimal import Decimal
from typing import Any

import lark

from . import groovy_runtime, javascript_runtime
from .parsing import ExpressionSyntaxError, constant, helper, located, position_of
from .script_languages import ScriptLanguage
from .script_translation import (ScriptTranslator, env_item, is_tree, load, store,
                                 unescape)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0", "$": "$"}
_FUNCTIONS = {"println": "print", "print": "print"}
_REFUSED_NAMES = {"System", "Runtime", "Eval", "GroovyShell", "Class", "Thread",
                  "ProcessBuilder", "ClassLoader", "Script", "Binding", "Math", "File",
                  "evaluate", "getClass", "metaClass", "binding", "sleep", "Java"}
_REFUSED_MEMBERS = {"execute", "class", "metaClass", "getClass", "invokeMethod",
                    "getMetaClass", "setMetaClass", "getProperty", "setProperty",
                    "properties", "evaluate", "with", "identity", "tap", "inspect", "dump"}


_REFUSED_TOKENS = {"REFUSED_WORD", "ANNOTATION", "TILDE", "REGEX_OP", "NEW", "THIS"}


def _named_refusal(source: str, err: ExpressionSyntaxError) -> ExpressionSyntaxError:
    """A parse error after (or at) a word of Groovy the subset leaves out names that word,
    and a closure where only a value can stand says where closures go."""
    if err.line is None or err.column is None:
        return err
    lines = source.split("\n")
    at = sum(len(line) + 1 for line in lines[:err.line - 1]) + err.column - 1
    try:
        for token in GROOVY.parser.lex(source):
            if token.start_pos > at:
                break
            if token.type in _REFUSED_TOKENS:
                return _Translator(source).refusal(token)
    except lark.exceptions.LarkError:
        pass
    if source[at:at + 1] == "{":
        return ExpressionSyntaxError(_CLOSURE_PLACES, err.line, err.column)
    return err


# Closure methods whose closure may take a map's key and value as two parameters.
_PAIR_METHODS = frozenset({"collect", "any", "every", "sum", "count"})
_CLOSURE_PLACES = ("a closure is supported only as the argument of each, eachWithIndex, "
                   "collect, findAll, find, any, every, sum or count")

def _translate(source: str, tree: lark.Tree) -> list[ast.stmt]:
    return _Translator(source).statements(tree.children)


def _unescape(text: str) -> str:
    return unescape(text, _ESCAPES, {"u": 4})  # \u00e9, as in Java


def _gv(name: str, *args: ast.expr) -> ast.Call:
    return helper("gv_" + name, *args)


def _js(name: str, *args: ast.expr) -> ast.Call:
    return helper("js_" + name, *args)


class _Translator(ScriptTranslator):
    def __init__(self, source: str, offset: int = 0):
        super().__init__(source, offset)         # offset: where a GString part starts
        self.closure_body = 0                    # inside each's body: return = continue

    # ------------------------------------------------------------------ statements

    def _s_refused(self, node, word) -> list[ast.stmt]:
        raise self.error(word, f"'{word}' is not supported in DutyFlow's Groovy")

    def _s_command(self, node, word, arguments) -> list[ast.stmt]:
        args = [self.expr(arg) for arg in arguments.children] if arguments else []
        return [ast.Expr(_gv("print", *args))]  # Camunda prints to the server's console

    def _s_method_command(self, node, base, dot, name, arguments) -> list[ast.stmt]:
        """`execution.setVariable 'a', 1`: the call `execution.setVariable('a', 1)`."""
        callee = lark.Tree("member", [base, dot, name], meta=node.meta)
        return [ast.Assign(targets=[store("completion")],
                           value=self.call(node, callee, list(arguments.children)))]

    def _s_expr_stmt(self, node, expression) -> list[ast.stmt]:
        if is_tree(expression, "call", "call_closure"):
            loop = self.closure_loop(expression)
            if loop is not None:
                return loop
        return [ast.Assign(targets=[store("completion")], value=self.expr(expression))]

    def _s_declaration(self, node, kind, name, value) -> list[ast.stmt]:
        self.check_name(name)
        if self.param(str(name)) is not None:
            raise self.error(name, f"'{name}' is already a closure parameter here")
        translated = self.expr(value) if value is not None else constant(None)
        base = str(kind).split("<")[0].split("[")[0].strip()
        if value is not None and base in groovy_runtime.TYPE_NAMES and base not in (
                "String", "List"):
            translated = _gv("as", translated, constant(base))  # `int n = '3'` fails as in Groovy
        return [ast.Assign(targets=[env_item(str(name), ast.Store())], value=translated)]

    def _s_assignment(self, node, target, op, value) -> list[ast.stmt]:
        operator = str(op)[:-1]
        new_value = self.expr(value)
        if operator == "?":  # `x ?= y`: assign when x is null
            current = self.expr(target)
            new_value = ast.IfExp(test=ast.Compare(left=current, ops=[ast.Is()],
                                                   comparators=[constant(None)]),
                                  body=new_value, orelse=self.expr(target))
        elif operator:
            new_value = self.binary(operator, self.expr(target), new_value)
        return self.assign(target, new_value)

    def _s_update(self, node, first, second) -> list[ast.stmt]:
        target, op = (second, first) if isinstance(first, lark.Token) \
            and str(first) in ("++", "--") else (first, second)
        return self.assign(target, _gv("arith" if str(op) == "--" else "add",
                                       *([constant("-")] if str(op) == "--" else []),
                                       self.expr(target), constant(1)))

    def assign(self, target: Any, value: ast.expr) -> list[ast.stmt]:
        if is_tree(target, "identifier"):
            name = str(target.children[0])
            if self.param(name) is not None:
                raise self.error(target, f"assigning to the closure parameter '{name}' is "
                                         "not supported")
            self.check_name(target.children[0])
            return [ast.Assign(targets=[env_item(name, ast.Store())], value=value)]
        if is_tree(target, "member", "index"):
            if is_tree(target, "member"):
                base, dot, key = target.children
                key_expr = constant(self.member_name(key))
            else:
                base, key = target.children
                key_expr = self.expr(key)
            return [ast.Expr(_gv("set_member", self.expr(base), key_expr, value))]
        raise self.error(target, "only a variable, a property or a list item can be "
                                 "assigned to")

    def _s_for_in(self, node, kind, name, *rest) -> list[ast.stmt]:
        iterable, body = rest[-2], rest[-1]
        self.check_name(name)
        item = self.fresh("item")
        assign = ast.Assign(targets=[env_item(str(name), ast.Store())], value=load(item))
        return [ast.For(target=store(item), iter=_gv("iterate", self.expr(iterable)),
                        body=[assign, *self.loop_body(body)], orelse=[])]

    def _s_return_stmt(self, node, token, value) -> list[ast.stmt]:
        if self.closure_body and not self.loops:
            return [ast.Continue()]  # the end of one each() call
        translated = self.expr(value) if value is not None else constant(None)
        return [ast.Expr(_js("return", translated))]

    # ------------------------------------------------------------------ expressions

    def truth(self, node: Any) -> ast.expr:
        return _gv("truthy", self.expr(node))

    def _e_number(self, node, token) -> ast.expr:
        text = str(token).replace("_", "")
        if len(text) > 40:
            raise self.error(token, "number literal is too long")
        suffix = text[-1].lower() if text[-1].isalpha() and not text.lower().startswith("0x") \
            or text.lower().startswith("0x") and text[-1] in "lLgGiI" else ""
        body = text[:-1] if suffix else text
        if body.lower().startswith("0x"):
            return constant(int(body, 16))
        if suffix in ("d", "f"):
            return constant(float(body))
        if "." in body or "e" in body.lower():
            value = Decimal(body)
            if abs(value.adjusted()) > 100:
                raise self.error(token, "number literal is out of range")
            return _gv("decimal", constant(body))
        return constant(int(body))

    def _e_string(self, node, token) -> ast.expr:
        text = str(token)
        quote = 3 if text.startswith("'''") else 1
        return constant(_unescape(text[quote:-quote]))

    def _e_gstring(self, node, token) -> ast.expr:
        """"text ${expr} $name.prop": the parts joined by groovy_runtime.interpolate."""
        text = str(token)
        quote = 3 if text.startswith('"""') else 1
        body = text[quote:-quote]
        start = position_of(token, self.offset) + quote
        parts: list[ast.expr] = []
        literal, position = [], 0
        while position < len(body):
            char = body[position]
            if char == "\\" and position + 1 < len(body):
                literal.append(body[position:position + 2])
                position += 2
                continue
            if char == "$" and body[position + 1:position + 2] == "{":
                end = body.find("}", position)
                if end < 0:
                    raise located(self.source, start + position, "unclosed ${ in a string")
                parts.append(constant(_unescape("".join(literal))))
                literal = []
                parts.append(self.embedded(body[position + 2:end], start + position + 2))
                position = end + 1
                continue
            if char == "$" and (body[position + 1:position + 2].isalpha()
                                or body[position + 1:position + 2] == "_"):
                end = position + 1
                while end < len(body) and (body[end].isalnum() or body[end] in "_."):
                    end += 1
                path = body[position + 1:end].rstrip(".")
                parts.append(constant(_unescape("".join(literal))))
                literal = []
                parts.append(self.embedded(path, start + position + 1))
                position = position + 1 + len(path)
                continue
            literal.append(char)
            position += 1
        parts.append(constant(_unescape("".join(literal))))
        if len(parts) == 1:
            return parts[0]
        return _gv("interpolate", *parts)

    def embedded(self, text: str, at: int) -> ast.expr:
        """The expression inside a GString, located in the whole script."""
        if not text.strip():
            raise located(self.source, at, "empty ${} in a string")
        try:
            tree = GROOVY.parser.parse(text, start="expr")
        except lark.exceptions.LarkError:
            raise located(self.source, at, f"cannot read the expression {text!r} in this "
                                           "string") from None
        inner = _Translator(self.source, at)
        inner.params, inner.counter = self.params, self.counter + 1000
        translated = inner.expr(tree)
        self.counter = inner.counter
        return translated

    def _e_refused_op(self, node, left, op, right) -> ast.expr:
        raise self.refusal(op)

    def _e_refused_op1(self, node, token, *rest) -> ast.expr:
        raise self.refusal(token)

    def refusal(self, token: lark.Token) -> ExpressionSyntaxError:
        text = str(token)
        what = "annotations are" if text.startswith("@") else \
            "regular expressions are" if "~" in text else f"'{text}' is"
        return self.error(token, f"{what} not supported in DutyFlow's Groovy")

    def _e_list(self, node, *items) -> ast.expr:
        return ast.List(elts=[self.expr(item) for item in items if item is not None],
                        ctx=ast.Load())

    def _e_map(self, node, *entries) -> ast.expr:
        keys, values = [], []
        for entry in entries:
            if entry is None:
                continue
            key, value = entry.children
            if key.type == "STRING":
                text = self._e_string(entry, key).value
            elif key.type == "NUMBER":
                text = str(key)
            else:
                text = str(key)
            keys.append(constant(text))
            values.append(self.expr(value))
        return ast.Dict(keys=keys, values=values)

    def _e_empty_map(self, node) -> ast.expr:
        return ast.Dict(keys=[], values=[])

    def _e_identifier(self, node, name) -> ast.expr:
        text = str(name)
        param = self.param(text)
        if param is not None:
            return load(param)
        if text in ("execution", "task"):
            raise self.error(name, f"'{text}' is used as {text}.method(...) "
                                   "(e.g. execution.getVariable('name'))")
        self.check_name(name)
        return _gv("get_name", load("env"), load("data"), load("extra"), constant(text))

    def member_name(self, key: Any) -> str:
        text = self._e_string(None, key).value if key.type == "STRING" else str(key)
        if text in _REFUSED_MEMBERS:
            raise self.error(key, f"'{text}' is not supported in DutyFlow's Groovy")
        return text

    def _e_member(self, node, base, dot, key) -> ast.expr:
        name = self.member_name(key)
        if str(dot) == "*.":
            raise self.error(dot, "the spread operator *. is not supported")
        return _gv("member", self.expr(base), constant(name), constant(str(dot) == "?."))

    def _e_index(self, node, base, key) -> ast.expr:
        return _gv("index", self.expr(base), self.expr(key))

    def _e_elvis(self, node, left, _op, right) -> ast.expr:
        temporary = self.fresh("t")
        return ast.IfExp(test=_gv("truthy", ast.NamedExpr(target=store(temporary),
                                                          value=self.expr(left))),
                         body=load(temporary), orelse=self.expr(right))

    def _e_or_op(self, node, left, right) -> ast.expr:
        return ast.BoolOp(op=ast.Or(), values=[self.truth(left), self.truth(right)])

    def _e_and_op(self, node, left, right) -> ast.expr:
        return ast.BoolOp(op=ast.And(), values=[self.truth(left), self.truth(right)])

    def _e_sign(self, node, op, operand) -> ast.expr:
        value = self.expr(operand)
        return _gv("neg", value) if str(op) == "-" else value

    def _e_equality(self, node, left, op, right) -> ast.expr:
        text = str(op)
        if text == "<=>":
            return _gv("cmp", self.expr(left), self.expr(right))
        if text in ("===", "!=="):  # identity: for the plain data of the subset, equality
            text = text[:2]
        compared = _gv("eq", self.expr(left), self.expr(right))
        return ast.UnaryOp(op=ast.Not(), operand=compared) if text == "!=" else compared

    def _e_compare(self, node, left, op, right) -> ast.expr:
        return _gv("less", constant(str(op)), self.expr(left), self.expr(right))

    def _e_in_op(self, node, left, _op, right) -> ast.expr:
        return _gv("in", self.expr(left), self.expr(right))

    def _e_as_op(self, node, value, _as, name) -> ast.expr:
        if str(name) not in groovy_runtime.TYPE_NAMES:
            raise self.error(name, f"'as {name}' is not supported (as Integer, Long, "
                                   "BigDecimal, Double, String, Boolean or List)")
        return _gv("as", self.expr(value), constant(str(name)))

    def _e_range(self, node, start, op, end) -> ast.expr:
        return _gv("range", self.expr(start), self.expr(end), constant(str(op) == "..<"))

    def _e_arith(self, node, left, op, right) -> ast.expr:
        return self.binary(str(op), self.expr(left), self.expr(right))

    def binary(self, operator: str, left: ast.expr, right: ast.expr) -> ast.expr:
        if operator == "+":
            return _gv("add", left, right)
        return _gv("arith", constant(operator), left, right)

    def _e_closure(self, node, *children) -> ast.expr:
        raise self.error(node, _CLOSURE_PLACES)

    def _e_call_closure(self, node, callee, closure) -> ast.expr:
        return self.call(node, callee, [closure])

    def _e_call(self, node, callee, arguments, closure) -> ast.expr:
        args = list(arguments.children) if arguments is not None else []
        return self.call(node, callee, args + ([closure] if closure is not None else []))

    def call(self, node: Any, callee: Any, args: list) -> ast.expr:
        if is_tree(callee, "refused_op1"):
            self.expr(callee)
        if is_tree(callee, "identifier") and self.param(str(callee.children[0])) is None:
            name = str(callee.children[0])
            if name in _FUNCTIONS:
                return _gv("print", *[self.expr(arg) for arg in args])
            if name == "S":
                return _js("call_function", constant("S"), *[self.expr(arg) for arg in args])
            raise self.error(callee, f"{name}() is not supported: scripts call the methods "
                                     "and execution API DutyFlow lists, not their own")
        if is_tree(callee, "member"):
            base, dot, key = callee.children
            method = self.member_name(key)
            if is_tree(base, "identifier") and str(base.children[0]) in ("execution", "task") \
                    and self.param(str(base.children[0])) is None:
                return self.camunda_call(str(base.children[0]), key, args)
            if is_tree(base, "identifier") and str(base.children[0]) in _REFUSED_NAMES:
                raise self.error(base, f"'{base.children[0]}' is not supported in "
                                       "DutyFlow's Groovy")
            if method in groovy_runtime.CLOSURE_METHODS and args and is_tree(args[-1], "closure"):
                return self.closure_expression(node, base, key, args)
            receiver = self.expr(base)
            if method not in groovy_runtime.METHOD_NAMES:
                raise self.error(key, f"method {method}() is not supported")
            translated = [self.expr(arg) for arg in args]
            if method in ("getValue", "getValueSerialized"):
                return _js("typed_method", receiver, constant(method))
            return _gv("safe_call" if str(dot) == "?." else "call_method", receiver,
                       constant(method), *translated)
        raise self.error(callee if isinstance(callee, lark.Tree) else node,
                         "this call is not supported: scripts call the methods and "
                         "execution API DutyFlow lists")

    # ------------------------------------------------------------------ closures

    def closure(self, node: Any, closure: Any, count: int) -> tuple[list[str], list]:
        """The parameter names (`it` when none is written) and statements of a closure."""
        head, *body = closure.children
        if head is None:
            params = ["it"]
        else:
            params = [name.strip() for name in str(head)[:-2].split(",") if name.strip()]
        if len(params) > count:
            raise self.error(closure, f"the closure takes at most {count} parameters here")
        for name in params:
            if name.startswith("_"):
                raise self.error(closure, f"name '{name}' is not allowed")
        return params, body

    def returned(self, closure: Any, body: list) -> Any:
        """The expression a closure gives: its one expression, or its one `return`'s."""
        statements = [child for child in body if not is_tree(child, "empty_stmt")]
        if len(statements) == 1 and is_tree(statements[0], "expr_stmt"):
            return statements[0].children[0]
        if len(statements) == 1 and is_tree(statements[0], "return_stmt") and \
                statements[0].children[1] is not None:
            return statements[0].children[1]
        raise self.error(closure, "a closure of collect, findAll, find, any, every, sum or "
                                  "count is one expression")

    def closure_expression(self, node: Any, base: Any, key: lark.Token,
                           args: list) -> ast.expr:
        method = str(key)
        if method in ("each", "eachWithIndex"):
            raise self.error(key, f"{method} is a statement of its own")
        if len(args) != 1:
            raise self.error(key, f"{method} takes one closure")
        params, body = self.closure(node, args[0], 2 if method in _PAIR_METHODS else 1)
        items = self.expr(base)
        item, index = self.bind(params)
        try:
            value = self.expr(self.returned(args[0], body))
        finally:
            self.params.pop()
        generator = [ast.comprehension(target=store(item), iter=_gv("iterate", items),
                                       ifs=[], is_async=0)]
        if len(params) == 2:  # `map.collect { key, value -> ... }`
            generator = [ast.comprehension(
                target=ast.Tuple(elts=[store(item), store(index)], ctx=ast.Store()),
                iter=_gv("pairs", items), ifs=[], is_async=0)]
        if method == "collect":
            return ast.ListComp(elt=value, generators=generator)
        if method == "sum":
            return _gv("sum", ast.ListComp(elt=value, generators=generator))
        if method == "findAll":
            generator[0].ifs = [_gv("truthy", value)]
            return ast.ListComp(elt=load(item), generators=generator)
        if method == "count":
            generator[0].ifs = [_gv("truthy", value)]
            return ast.Call(func=ast.Name(id="len", ctx=ast.Load()),
                            args=[ast.ListComp(elt=load(item), generators=generator)],
                            keywords=[])
        truth = ast.GeneratorExp(elt=_gv("truthy", value), generators=generator)
        if method == "any":
            return ast.Call(func=ast.Name(id="any", ctx=ast.Load()), args=[truth], keywords=[])
        if method == "every":
            return ast.Call(func=ast.Name(id="all", ctx=ast.Load()), args=[truth], keywords=[])
        generator[0].ifs = [_gv("truthy", value)]
        return _gv("first", ast.GeneratorExp(elt=load(item), generators=generator),
                   constant(None))

    def closure_loop(self, node: lark.Tree) -> list[ast.stmt] | None:
        """`items.each { item -> ... }` as a statement: a loop."""
        if is_tree(node, "call_closure"):
            callee, args = node.children[0], [node.children[1]]
        else:
            callee, arguments, closure = node.children
            args = (list(arguments.children) if arguments else []) + \
                ([closure] if closure is not None else [])
        if not (is_tree(callee, "member") and str(callee.children[2]) in ("each", "eachWithIndex")):
            return None
        if len(args) != 1 or not is_tree(args[0], "closure"):
            raise self.error(callee.children[2], f"{callee.children[2]} takes one closure")
        with_index = str(callee.children[2]) == "eachWithIndex"
        params, body = self.closure(node, args[0], 2)
        items = self.expr(callee.children[0])
        pairs = len(params) == 2 and not with_index  # `map.each { key, value -> ... }`
        item, index = self.bind(params)
        saved_loops, self.loops = self.loops, 0
        self.closure_body += 1
        try:
            statements = self.statements(body)
        finally:
            self.params.pop()
            self.loops = saved_loops
            self.closure_body -= 1
        if pairs:
            return [ast.For(target=ast.Tuple(elts=[store(item), store(index)],
                                             ctx=ast.Store()),
                            iter=_gv("pairs", items), body=statements or [ast.Pass()],
                            orelse=[])]
        return [ast.For(target=ast.Tuple(elts=[store(index), store(item)], ctx=ast.Store()),
                        iter=ast.Call(func=ast.Name(id="enumerate", ctx=ast.Load()),
                                      args=[_gv("iterate", items)], keywords=[]),
                        body=statements or [ast.Pass()], orelse=[])]

    def check_name(self, name: Any) -> None:
        text = str(name)
        if text.startswith("_"):
            raise self.error(name, f"name '{text}' is not allowed")
        if text in _REFUSED_NAMES:
            raise self.error(name, f"'{text}' is not supported in DutyFlow's Groovy")


GROOVY = ScriptLanguage(formats=("groovy",), grammar="groovy.lark", start=("start", "expr"),
                        translate=_translate, refusal=_named_refusal,
                        helpers={**javascript_runtime.HELPERS, **groovy_runtime.HELPERS},
                        to_plain=groovy_runtime.to_plain)
# By the module's name, as its tests call them (groovy.run).
run = GROOVY.run
check_script = GROOVY.check_script

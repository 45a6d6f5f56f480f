"""Property-based fuzz of the JUEL, FEEL and XPath front ends and their translation onto the
sandbox.

Inputs are random text (in and out of `${...}`, `#{...}` and `=`, or declared XPath) and random expressions
shaped by each grammar, full of what an attacker would try: dunder names and paths, `_`
names, Python builtins, huge ranges and strings, deep nesting. For every input:

- checking and evaluating raise nothing but SandboxError (parse errors included): never an
  uncaught exception from lark, the translator, the helpers or compile();
- a successful evaluation returns plain data;
- while it runs, nothing opens a file, touches `os`, spawns, connects, imports or reads a
  guarded interpreter attribute (CPython audit events, recorded by a hook);
- no evaluation outlives the sandbox's time limit by more than scheduling noise.
"""
from __future__ import annotations

import datetime as dt
import functools
import sys
import time
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import expressions, sandbox
from engine.expressions import Language
from engine.expressions import groovy, javascript, xpath_runtime
from engine.expressions.feel_functions import BUILTINS
from engine.expressions.script_languages import ScriptLanguage
from engine.sandbox import SandboxError

TIME_LIMIT = 0.2
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DATA = {"amount": 250, "name": "Zhang", "items": [1, 2, 3], "ctx": {"a": 1, "b": [1, {"c": 2}]},
        "nothing": None, "big": "x" * 50_000, "x": 3, "price": Decimal("9.95"),
        "when": dt.date(2026, 1, 1), "flag": True, "_secret": "hidden"}
PLAIN = (type(None), bool, int, float, str, Decimal, dt.date, list, dict)
# The memory check reads this file during runs; nothing else may be opened.
ALLOWED_OPEN = "/proc/self/statm"

_recorded: list[list[tuple[str, tuple]]] = []


_inside_hook: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if not _recorded or _inside_hook:
        return
    _inside_hook.append(True)  # the hook's own frame inspection raises events too
    try:
        _record(event, args)
    finally:
        _inside_hook.pop()


def _record(event: str, args: tuple) -> None:
    if event == "open" and args and str(args[0]) == ALLOWED_OPEN:
        return
    if event in ("open", "import", "exec", "compile", "object.__getattr__", "object.__setattr__",
                 "subprocess.Popen", "socket.connect", "ctypes.dlopen", "builtins.input",
                 "code.__new__", "function.__new__", "marshal.loads", "pickle.find_class") \
            or event.startswith(("os.", "shutil.", "socket.")):
        if sys._getframe(2).f_code.co_filename == sandbox.__file__:
            return  # the sandbox's own machinery: its one eval, its tracer reading f_code
        _recorded[-1].append((event, tuple(repr(arg)[:80] for arg in args)))


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def short_time_limit(monkeypatch):
    monkeypatch.setattr(sandbox, "TIME_LIMIT_SECONDS", TIME_LIMIT)


def evaluated_safely(text: str, language: Language | None = None) -> None:
    """The properties above, for one input."""
    try:
        found = expressions.check(text, language)
    except SandboxError:
        return
    stored = expressions.canonical(text, found)
    if found is Language.PYTHON:
        return  # Python is fuzzed by the sandbox's own tests; here only what reached JUEL/FEEL/XPath
    expressions.check(stored)  # compiled (and cached) outside the recording: compile() is ours
    assert _generated_names_only(stored), f"{stored!r} made a designer's name a Python name"
    events: list[tuple[str, tuple]] = []
    _recorded.append(events)
    started = time.monotonic()
    try:
        result = expressions.evaluate(stored, DATA)
    except SandboxError:
        result = None
    finally:
        _recorded.pop()
    elapsed = time.monotonic() - started
    assert events == [], f"{stored!r} caused {events}"
    assert elapsed < TIME_LIMIT + 1.0, f"{stored!r} ran {elapsed:.2f} s"
    assert _is_plain(result), f"{stored!r} returned {type(result)}"


def _generated_names_only(stored: str) -> bool:
    """The translation's code names only generated globals and locals: a designer's
    identifiers stay data (string constants), never Python names or attributes."""
    pending = [expressions.compiled(stored)]
    while pending:
        code = pending.pop()
        if not all(name.startswith(sandbox.GENERATED_PREFIX) or name == ".0"
                   for name in (*code.co_names, *code.co_varnames)):
            return False
        pending.extend(const for const in code.co_consts if isinstance(const, type(code)))
    return True


def _is_plain(value) -> bool:
    if isinstance(value, list):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return isinstance(value, PLAIN)


# ------------------------------------------------------------------------- random text

@FUZZ
@given(st.text(max_size=120), st.sampled_from(["=", "${", "#{", ""]),
       st.sampled_from([None, Language.JUEL, Language.FEEL, Language.XPATH]))
def test_random_text_never_escapes_or_crashes(body, opening, declared):
    closing = "}" if opening.endswith("{") else ""
    evaluated_safely(opening + body + closing, declared)


@FUZZ
@given(st.text(alphabet="()[]{}.,:?!=<>+-*/\"'`$# \n0123456789abnotemplyeqfsiurdv_", max_size=200))
def test_punctuation_soup_never_escapes_or_crashes(body):
    evaluated_safely("=" + body)
    evaluated_safely("${" + body + "}")
    evaluated_safely("#{" + body + "}")
    evaluated_safely(body, Language.XPATH)


def test_deep_nesting_is_refused_not_crashed():
    for depth in (50, 500, 5000):
        evaluated_safely("=" + "(" * depth + "1" + ")" * depth)
        evaluated_safely("#{" + "(" * depth + "1" + ")" * depth + "}")
        evaluated_safely("=" + "not(" * depth + "true" + ")" * depth)
        evaluated_safely("#{" + "!" * depth + "flag}")
        evaluated_safely("=" + "[" * depth + "]" * depth)
        evaluated_safely("(" * depth + "1" + ")" * depth, Language.XPATH)
        evaluated_safely("not(" * depth + "true()" + ")" * depth, Language.XPATH)
        evaluated_safely("-" * depth + "1", Language.XPATH)
        evaluated_safely(" or ".join(["$flag"] * depth), Language.XPATH)
        evaluated_safely("$ctx" + "/b" * depth, Language.XPATH)


# --------------------------------------------------------------- grammar-shaped: FEEL

FEEL_ATOMS = st.sampled_from([
    "amount", "name", "items", "ctx", "nothing", "missing", "x", "item", "big", "price", "when",
    "flag", "_secret", "__class__", "`__import__`", "`__builtins__`", "os", "open", "eval",
    "1", "0", "2.5", "-3", "100000", "1000000000", '"text"', '""', '"__class__"', "null", "true",
    "false", "[1, 2, 3]", "{a: 1, \"b\": [2]}", 'date("2024-01-01")', 'duration("P1D")', "now()",
    "today()", 'date and time("2024-01-01T10:00:00Z")', "[1..100000]", "(0..1]",
])
FEEL_PATHS = st.sampled_from(["a", "b", "name", "__class__", "__dict__", "__globals__", "_x",
                              "gi_frame", "f_back", "year", "days", "mro", "format"])
FEEL_OPERATORS = st.sampled_from(["+", "-", "*", "/", "**", "=", "!=", "<", ">", "<=", ">=",
                                  "and", "or"])
FEEL_FUNCTIONS = st.sampled_from(sorted(BUILTINS) + ["exec", "getattr", "__import__"])


def _feel_forms(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, FEEL_OPERATORS, inner).map(" ".join),
        st.tuples(FEEL_FUNCTIONS, st.lists(inner, max_size=3)).map(
            lambda call: f"{call[0]}({', '.join(call[1])})"),
        st.tuples(inner, FEEL_PATHS).map(lambda path: f"({path[0]}).{path[1]}"),
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]})[{pair[1]}]"),
        inner.map(lambda value: f"not({value})"),
        st.tuples(inner, inner, inner).map(lambda t: f"if {t[0]} then {t[1]} else {t[2]}"),
        st.tuples(st.sampled_from(["some", "every"]), inner, inner).map(
            lambda t: f"{t[0]} x in {t[1]} satisfies {t[2]}"),
        st.tuples(inner, inner).map(lambda t: f"for x in {t[0]}, y in {t[0]} return {t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"for i in 1..{t[0]} return {t[1]}"),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} in [{t[1]}..{t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} in (> {t[1]}, {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} between {t[1]} and {t[2]}"),
        st.lists(inner, max_size=4).map(lambda values: "[" + ", ".join(values) + "]"),
        st.tuples(FEEL_PATHS, inner).map(lambda entry: f"{{{entry[0]}: {entry[1]}}}"),
        inner.map(lambda value: f"({value})"),
        inner.map(lambda value: f"-{value}"),
    )


FEEL_EXPRESSIONS = st.recursive(FEEL_ATOMS, _feel_forms, max_leaves=14)


@FUZZ
@given(FEEL_EXPRESSIONS)
def test_grammar_shaped_feel_never_escapes_or_crashes(expression):
    evaluated_safely("=" + expression)


# ------------------------------------------------- decision table input entries (FEEL)

def matched_safely(cell: str, value) -> None:
    """The properties above, for a decision table input entry (FEEL unary tests) tried
    against one input value: only SandboxError, only true or false, nothing escapes."""
    try:
        expressions.check_unary_tests(cell)
    except SandboxError:
        return
    events: list[tuple[str, tuple]] = []
    _recorded.append(events)
    started = time.monotonic()
    try:
        outcome = expressions.matches(cell, value, DATA)
    except SandboxError:
        outcome = False
    finally:
        _recorded.pop()
    assert events == [], f"{cell!r} caused {events}"
    assert time.monotonic() - started < TIME_LIMIT + 1.0, f"{cell!r} ran too long"
    assert outcome in (True, False), f"{cell!r} gave {outcome!r}"


CELL_TESTS = st.one_of(
    FEEL_EXPRESSIONS,
    st.tuples(st.sampled_from(["<", "<=", ">", ">=", "!=", "="]), FEEL_EXPRESSIONS).map(" ".join),
    st.tuples(st.sampled_from(["[", "("]), FEEL_EXPRESSIONS, FEEL_EXPRESSIONS,
              st.sampled_from(["]", ")"])).map(lambda t: f"{t[0]}{t[1]}..{t[2]}{t[3]}"),
    FEEL_EXPRESSIONS.map(lambda expression: f"? > {expression} and ? != {expression}"),
)


@FUZZ
@given(st.lists(CELL_TESTS, min_size=1, max_size=3), st.booleans(),
       st.sampled_from([None, 5, "Misc", Decimal("2.5"), dt.date(2026, 1, 1), [1, 2], True]))
def test_grammar_shaped_input_entries_never_escape_or_crash(tests, negated, value):
    cell = ", ".join(tests)
    matched_safely(f"not({cell})" if negated else cell, value)


@FUZZ
@given(st.text(alphabet="()[]{}.,:?!=<>+-*/\"'`$# \n0123456789abnotemplyeqfsiurdv_", max_size=200))
def test_punctuation_soup_as_an_input_entry_never_escapes_or_crashes(cell):
    matched_safely(cell, 3)


# --------------------------------------------------------------- grammar-shaped: JUEL

JUEL_ATOMS = st.sampled_from([
    "amount", "name", "items", "ctx", "nothing", "x", "big", "price", "flag", "missing",
    "_secret", "__class__", "execution", "os", "open", "1", "0", "2.5", "1e308", "-3",
    "'text'", "''", "'__class__'", "null", "true", "false",
    "execution.getVariable('amount')", "execution.getVariable('_secret')",
    "execution.getVariable('__builtins__')",
])
JUEL_BINARY = st.sampled_from(["&&", "||", "and", "or", "==", "eq", "!=", "ne", "<", "lt", ">",
                               "gt", "<=", "le", ">=", "ge", "+", "-", "*", "/", "div", "%", "mod"])
JUEL_MEMBERS = st.sampled_from([
    "a", "c", "__class__", "__dict__", "_x", "gi_frame", "length()", "isEmpty()", "size()",
    "toUpperCase()", "trim()", "substring(1)", "substring(0, 2)", "charAt(0)",
    "concat(big)", "replace('x', big)", "contains('a')", "equals('a')", "get(0)",
    "prop('a')", "numberValue()", "format('x')", "mro()", "startsWith('Z')", "indexOf('a')",
])


def _juel_forms(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, JUEL_BINARY, inner).map(" ".join),
        st.tuples(st.sampled_from(["!", "not ", "empty ", "-"]), inner).map("".join),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        st.tuples(inner, JUEL_MEMBERS).map(lambda member: f"({member[0]}).{member[1]}"),
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]})[{pair[1]}]"),
        inner.map(lambda value: f"({value})"),
    )


JUEL_EXPRESSIONS = st.recursive(JUEL_ATOMS, _juel_forms, max_leaves=14)


@FUZZ
@given(JUEL_EXPRESSIONS, st.sampled_from(["${", "#{"]))
def test_grammar_shaped_juel_never_escapes_or_crashes(expression, opening):
    evaluated_safely(opening + expression + "}", Language.JUEL)


# -------------------------------------------------------------- grammar-shaped: XPath

XPATH_ATOMS = st.sampled_from([
    "$amount", "$name", "$items", "$ctx", "$nothing", "$missing", "$x", "$big", "$price",
    "$when", "$flag", "$_secret", "$__class__", "bpmn:getDataObject('amount')",
    "bpmn:getDataObject('_secret')", "bpmn:getDataObject('__builtins__')",
    "bpmn:getDataInput('ctx')", "bpmn:getProcessProperty('items')", "bpmn:getDataObject($name)",
    "bpmn:getActivityProperty('a', 'b')", "amount", "__class__", ".", "..", "/", "//x",
    "1", "0", "2.5", ".5", "-3", "100000", "'text'", "''", "'__class__'", '"os"', "true()",
    "false()", "0 div 0", "1 div 0", "text()", "position()", "last()", "string()",
    "$items[. > 1]", "$ctx/b[2]/c", "$items[last()]",
])
XPATH_STEPS = st.sampled_from(["a", "b", "c", "*", "@a", "child::b", "__class__", "__dict__",
                               "_x", "gi_frame", "f_back", "mro", "format", "..", ".", "text()",
                               "parent::a", "b[1]", "b[c = 2]"])
XPATH_BINARY = st.sampled_from(["or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*",
                                "div", "mod", "|", "/", "//"])
XPATH_FUNCTIONS = st.sampled_from(sorted(xpath_runtime.FUNCTIONS) + [
    "bpmn:getDataObject", "bpmn:getDataOutput", "getDataObject", "exec", "__import__",
    "string-length", "last", "name", "bpmn:__import__", "os:system"])


def _xpath_forms(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, XPATH_BINARY, inner).map(" ".join),
        st.tuples(XPATH_FUNCTIONS, st.lists(inner, max_size=4)).map(
            lambda call: f"{call[0]}({', '.join(call[1])})"),
        st.tuples(inner, XPATH_STEPS).map(lambda path: f"({path[0]})/{path[1]}"),
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]})[{pair[1]}]"),
        inner.map(lambda value: f"-{value}"),
        inner.map(lambda value: f"({value})"),
    )


XPATH_EXPRESSIONS = st.recursive(XPATH_ATOMS, _xpath_forms, max_leaves=14)


@FUZZ
@given(XPATH_EXPRESSIONS)
def test_grammar_shaped_xpath_never_escapes_or_crashes(expression):
    evaluated_safely(expression, Language.XPATH)


# ------------------------------------------------------------------ the fuzz's own teeth

def test_the_audit_hook_would_see_an_escape():
    """The recording catches what an escape would do, so an empty record means something."""
    events: list = []
    _recorded.append(events)
    try:
        open(__file__).close()  # noqa: SIM115 - the very event the fuzz forbids
    finally:
        _recorded.pop()
    assert [event for event, _ in events] == ["open"]


# ------------------------------------- translated scripts (engine.expressions.script_languages)

# Builtins a translation itself calls: callbacks and closures become comprehensions over
# enumerate, any and all (Groovy's count is the len of one).
_BUILTINS = {javascript.JAVASCRIPT: {"enumerate", "any", "all"},
             groovy.GROOVY: {"enumerate", "any", "all", "len"}}


def translated_ran_safely(language: ScriptLanguage, script: str) -> None:
    """The properties above for a JavaScript or Groovy script, and: task data after it is
    plain data."""
    try:
        code = language.compile_script(script)
    except SandboxError:
        return
    pending = [code]
    while pending:
        compiled = pending.pop()
        names = (*compiled.co_names, *compiled.co_varnames)
        assert all(name.startswith(sandbox.GENERATED_PREFIX) or name == ".0"
                   or name in _BUILTINS[language] for name in names), \
            f"{script!r} made a designer's name a Python name: {names}"
        pending.extend(const for const in compiled.co_consts if isinstance(const, type(code)))
    data = dict(DATA)
    events: list[tuple[str, tuple]] = []
    _recorded.append(events)
    started = time.monotonic()
    try:
        result = language.run(script, data, {"business_key": "k"})
    except SandboxError:
        result = None
    finally:
        _recorded.pop()
    elapsed = time.monotonic() - started
    assert events == [], f"{script!r} caused {events}"
    assert elapsed < TIME_LIMIT + 1.0, f"{script!r} ran {elapsed:.2f} s"
    assert _is_plain(result), f"{script!r} returned {type(result)}"
    assert _is_plain(data), f"{script!r} left non-plain data"
    assert data["_secret"] == "hidden"


script_ran_safely = functools.partial(translated_ran_safely, javascript.JAVASCRIPT)
groovy_ran_safely = functools.partial(translated_ran_safely, groovy.GROOVY)


# ---------------------------------------------------- JavaScript scripts (engine.expressions.javascript)

@FUZZ
@given(st.text(max_size=160))
def test_random_text_as_javascript_never_escapes_or_crashes(script):
    script_ran_safely(script)


@FUZZ
@given(st.text(alphabet="()[]{}.,:;?!=<>+-*/%&|\"'`$# \n0123456789abnotevarfiwhlsuydcx_=>",
               max_size=200))
def test_punctuation_soup_as_javascript_never_escapes_or_crashes(script):
    script_ran_safely(script)


JS_ATOMS = st.sampled_from([
    "amount", "name", "items", "ctx", "nothing", "missing", "big", "price", "when", "flag",
    "_secret", "__class__", "undefined", "null", "true", "false", "0", "1", "-1", "2.5",
    "1e308", "0x7fffffff", "'text'", "''", "'__class__'", '"__import__"', "[]", "[1, 2]",
    "({})", "({a: 1, __proto__: 2})", "execution.getVariable('amount')",
    "execution.getVariable('_secret')", "execution.getVariable('__builtins__')",
    "execution.getVariables()", "S('{\"a\": [1]}')", "JSON.parse('[1, {\"b\": 2}]')",
    "Math.max(1, 2)", "typeof x",
])
JS_MEMBERS = st.sampled_from([
    "length", "constructor", "__class__", "__dict__", "prototype", "__proto__", "a", "b",
    "gi_frame", "f_globals", "mro", "format", "toString()", "toUpperCase()", "split(',')",
    "indexOf(1)", "join('xx')", "slice(1)", "push(1)", "prop('a')", "elements()",
    "map(x => x + x)", "filter(function (y) { return y; })", "some(v => v)",
    "concat(big)", "replace('x', big)", "hasOwnProperty('__class__')",
])
JS_BINARY = st.sampled_from(["+", "-", "*", "/", "%", "==", "===", "!=", "!==", "<", ">=",
                             "&&", "||", "in"])


def _js_forms(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, JS_BINARY, inner).map(" ".join),
        st.tuples(st.sampled_from(["!", "-", "+", "typeof "]), inner).map("".join),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(inner, JS_MEMBERS).map(lambda member: f"({member[0]}).{member[1]}"),
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]})[{pair[1]}]"),
        st.lists(inner, max_size=3).map(lambda values: "[" + ", ".join(values) + "]"),
        st.tuples(st.sampled_from(["String", "Number", "parseInt", "JSON.stringify", "S",
                                   "Math.round", "eval", "Function", "require", "load"]),
                  inner).map(lambda call: f"{call[0]}({call[1]})"),
    )


JS_EXPRESSIONS = st.recursive(JS_ATOMS, _js_forms, max_leaves=12)
JS_STATEMENTS = st.one_of(
    JS_EXPRESSIONS.map(lambda e: f"var v = {e};"),
    JS_EXPRESSIONS.map(lambda e: f"v += {e};"),
    JS_EXPRESSIONS.map(lambda e: f"execution.setVariable('out', {e});"),
    JS_EXPRESSIONS.map(lambda e: f"execution.setVariable({e}, 1);"),
    JS_EXPRESSIONS.map(lambda e: f"if ({e}) {{ v = 1 }} else {{ v = 2 }}"),
    JS_EXPRESSIONS.map(lambda e: f"for (var k in {e}) {{ v = k }}"),
    JS_EXPRESSIONS.map(lambda e: f"for (var k of {e}) {{ v = v + k }}"),
    JS_EXPRESSIONS.map(lambda e: f"for (var i = 0; i < {e}; i++) {{ v = [v] }}"),
    JS_EXPRESSIONS.map(lambda e: f"while ({e}) {{ v = v + v; }}"),
    JS_EXPRESSIONS.map(lambda e: f"return {e};"),
    JS_EXPRESSIONS.map(lambda e: f"o[{e}] = {e};"),
)


@FUZZ
@given(st.lists(JS_STATEMENTS, min_size=1, max_size=5))
def test_grammar_shaped_javascript_never_escapes_or_crashes(statements):
    script_ran_safely("var v = 0, o = {};\n" + "\n".join(statements))


def test_deeply_nested_javascript_is_refused_not_crashed():
    for depth in (50, 500, 5000):
        script_ran_safely("var a = " + "(" * depth + "1" + ")" * depth)
        script_ran_safely("var a = " + "[" * depth + "]" * depth)
        script_ran_safely("if (a) {" * depth + "}" * depth)
        script_ran_safely("var a = " + "!" * depth + "1")


# ---------------------------------------------------- Groovy scripts (engine.expressions.groovy)

@FUZZ
@given(st.text(max_size=160))
def test_random_text_as_groovy_never_escapes_or_crashes(script):
    groovy_ran_safely(script)


@FUZZ
@given(st.text(alphabet="()[]{}.,:;?!=<>+-*/%&|\"'~@$# \n0123456789abnotedfrwhilsuycx_->",
               max_size=200))
def test_punctuation_soup_as_groovy_never_escapes_or_crashes(script):
    groovy_ran_safely(script)


GROOVY_ATOMS = st.sampled_from([
    "amount", "name", "items", "ctx", "nothing", "missing", "big", "price", "when", "flag",
    "_secret", "__class__", "it", "null", "true", "false", "0", "1", "-1", "2.5", "1e308",
    "0x7fffffff", "10L", "1.5d", "'text'", "''", "'__class__'", '"__import__"', '"${amount}"',
    '"$name.__class__"', "[]", "[1, 2]", "[:]", "[a: 1, '__proto__': 2]", "1..3", "3..<1",
    "execution.getVariable('amount')", "execution.getVariable('_secret')",
    "execution.getVariable('__builtins__')", "execution.getVariables()",
    "S('{\"a\": [1]}')", "System", "this", "new Object()", "Eval.me('1')",
])
GROOVY_MEMBERS = st.sampled_from([
    "size()", "class", "__class__", "__dict__", "metaClass", "a", "b", "gi_frame",
    "f_globals", "mro", "format", "toString()", "toUpperCase()", "split(',')", "indexOf(1)",
    "join('xx')", "substring(1)", "add(1)", "prop('a')", "elements()", "execute()",
    "collect { it + it }", "findAll { x -> x }", "any { it }", "every { v -> v }",
    "sum { it }", "find { it > 1 }", "count { it }", "plus(big)", "replace('x', big)",
    "containsKey('__class__')", "toInteger()", "getClass()",
])
GROOVY_BINARY = st.sampled_from(["+", "-", "*", "/", "%", "**", "==", "!=", "<=>", "<", ">=",
                                 "&&", "||", "in", "?:", ".."])


def _groovy_forms(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, GROOVY_BINARY, inner).map(" ".join),
        st.tuples(st.sampled_from(["!", "-", "!!"]), inner).map("".join),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(inner, GROOVY_MEMBERS).map(lambda member: f"({member[0]}).{member[1]}"),
        st.tuples(inner, GROOVY_MEMBERS).map(lambda member: f"({member[0]})?.{member[1]}"),
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]})[{pair[1]}]"),
        st.tuples(inner, st.sampled_from(["Integer", "BigDecimal", "String", "List",
                                          "Class"])).map(lambda t: f"({t[0]} as {t[1]})"),
        st.lists(inner, max_size=3).map(lambda values: "[" + ", ".join(values) + "]"),
        st.tuples(st.sampled_from(["println", "S", "evaluate", "execute", "getClass"]),
                  inner).map(lambda call: f"{call[0]}({call[1]})"),
    )


GROOVY_EXPRESSIONS = st.recursive(GROOVY_ATOMS, _groovy_forms, max_leaves=12)
GROOVY_STATEMENTS = st.one_of(
    GROOVY_EXPRESSIONS.map(lambda e: f"def v = {e}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"int w = {e}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"v += {e}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"execution.setVariable('out', {e})"),
    GROOVY_EXPRESSIONS.map(lambda e: f"execution.setVariable({e}, 1)"),
    GROOVY_EXPRESSIONS.map(lambda e: f"if ({e}) {{ v = 1 }} else {{ v = 2 }}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"for (k in {e}) {{ v = k }}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"({e}).each {{ v = v + it }}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"for (int i = 0; i < {e}; i++) {{ v = [v] }}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"while ({e}) {{ v = v + v }}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"return {e}"),
    GROOVY_EXPRESSIONS.map(lambda e: f"o[{e}] = {e}"),
    GROOVY_EXPRESSIONS.map(lambda e: f'println "x ${{{e}}}"'),
    GROOVY_EXPRESSIONS.map(lambda e: f"execution.setVariable 'out', {e}"),
)


@FUZZ
@given(st.lists(GROOVY_STATEMENTS, min_size=1, max_size=5))
def test_grammar_shaped_groovy_never_escapes_or_crashes(statements):
    groovy_ran_safely("def v = 0\ndef o = [:]\n" + "\n".join(statements))


def test_deeply_nested_groovy_is_refused_not_crashed():
    for depth in (50, 500, 5000):
        groovy_ran_safely("def a = " + "(" * depth + "1" + ")" * depth)
        groovy_ran_safely("def a = " + "[" * depth + "]" * depth)
        groovy_ran_safely("if (a) {" * depth + "}" * depth)
        groovy_ran_safely("def a = " + "!" * depth + "1")
        groovy_ran_safely("items" + ".collect { it }" * depth)

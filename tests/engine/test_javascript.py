"""JavaScript scripts (Camunda 7's scriptFormat="javascript"): each construct of the subset,
JavaScript's value semantics, Camunda's execution API and Spin, refusals with their position,
and the sandbox's limits."""
from __future__ import annotations

import json

import pytest

from engine.expressions import ExpressionSyntaxError, javascript
from engine.sandbox import SandboxError
from tests.engine.scripts import data


def value(script: str, variables: dict | None = None):
    """The script's value (its return, else its last expression statement)."""
    return javascript.run(script, data() if variables is None else variables)


@pytest.mark.parametrize("script, expected", [
    # arithmetic and + on text
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("6 / 2", 3), ("7 % 3", 1),
    ("-amount + 1", -249), ("'a' + 1 + 2", "a12"), ("1 + 2 + 'a'", "3a"), ("'n' + null", "nnull"),
    ("'x' + [1, 2]", "x1,2"), ("'5' * '2'", 10), ("'5' - 2", 3), ("1 / 0", None),
    ("price * 2", 39.8),
    # truthiness, && || ! with their values
    ("blank || 'default'", "default"), ("name || 'default'", "Zhang Wei"),
    ("0 && 'never'", 0), ("'a' && 'b'", "b"), ("!blank", True), ("!!items", True),
    ("![] ", False), ("!0", True), ("nothing ? 'yes' : 'no'", "no"),
    # equality, loose and strict
    ("null == undefined", True), ("null === undefined", False), ("'1' == 1", True),
    ("'1' === 1", False), ("0 == ''", True), ("null == 0", False), ("true == 1", True),
    ("amount !== 250", False), ("name != 'Li'", True), ("items == items", True),
    ("[1] === [1]", False),
    # comparisons
    ("amount > limit", True), ("'b' > 'a'", True), ("'10' < 9", False), ("null < 1", True),
    # typeof
    ("typeof amount", "number"), ("typeof name", "string"), ("typeof nothing", "object"),
    ("typeof missing", "undefined"), ("typeof order.nope", "undefined"),
    ("typeof true", "boolean"), ("typeof items", "object"),
    # members, indices, length
    ("order.total", 120), ("order['lines'][1].sku", "Y2"), ("items.length", 3),
    ("name.length", 9), ("items[7] === undefined", True), ("order.nope == null", True),
    ("dept.length", 3),
    # string methods
    ("name.indexOf('W')", 6), ("name.substring(6)", "Wei"), ("name.substring(5, 0)", "Zhang"),
    ("name.slice(-3)", "Wei"), ("name.toUpperCase()", "ZHANG WEI"),
    ("name.toLowerCase()", "zhang wei"), ("'  x '.trim()", "x"), ("'a,b,c'.split(',')",
                                                                  ["a", "b", "c"]),
    ("'a-b-b'.replace('b', 'c')", "a-c-b"), ("name.startsWith('Zh')", True),
    ("name.endsWith('Wei')", True), ("name.includes('ng W')", True), ("name.charAt(0)", "Z"),
    # array methods
    ("var a = [1]; a.push(2, 3); a", [1, 2, 3]), ("items.indexOf(2)", 2),
    ("items.includes(4)", False), ("items.join('-')", "3-1-2"), ("items.join()", "3,1,2"),
    ("items.slice(1)", [1, 2]), ("items.map(x => x * 2)", [6, 2, 4]),
    ("items.filter(function (x) { return x > 1; })", [3, 2]),
    ("items.map((x, i) => i)", [0, 1, 2]), ("items.some(x => x > 2)", True),
    ("items.every(x => x > 2)", False), ("order.lines.find(l => l.qty > 3).sku", "Y2"),
    ("items.findIndex(x => x == 9)", -1),
    # Math, conversions, JSON
    ("Math.max(1, amount, 3)", 250), ("Math.min(4, 2)", 2), ("Math.round(2.5)", 3),
    ("Math.round(-2.5)", -2), ("Math.floor(2.7)", 2), ("Math.ceil(2.1)", 3),
    ("Math.abs(-4)", 4), ("parseInt('42px')", 42), ("parseInt('ff', 16)", 255),
    ("parseFloat('3.25 kg')", 3.25), ("isNaN(parseInt('x'))", True), ("String(3.0)", "3"),
    ("String(true)", "true"), ("Number('12.5')", 12.5), ("Number(count_text) + 1", 43),
    ("JSON.stringify({a: [1, 'x'], b: null})", '{"a":[1,"x"],"b":null}'),
    ("JSON.parse('{\"a\": {\"b\": 2}}').a.b", 2), ("Object.keys(order)", ["total", "lines"]),
    ("Array.isArray(items)", True),
    # literals
    ("'tab\\there'", "tab\there"), ("'\\u4e2d'", "中"), ("0x1F", 31), ("1e3", 1000.0),
    ("({a: 1, 'b c': 2, 3: 'x'})", {"a": 1, "b c": 2, "3": "x"}),
])
def test_expressions_have_javascript_semantics(script, expected):
    assert value(script) == expected


def test_statements_loops_and_return():
    script = """
        var total = 0, seen = [];
        for (var i = 0; i < order.lines.length; i++) {
            if (order.lines[i].qty < 3) continue;   // continue still steps
            total += order.lines[i].qty;
        }
        for (const item of items) { seen.push(item) }
        for (var key in order) seen.push(key)
        let n = 0
        while (true) { n++; if (n >= 4) break }
        n--
        if (total > 4) { return [total, seen, n] } else { return 'small' }
        return 'never'
    """
    assert value(script) == [5, [3, 1, 2, "total", "lines"], 3]


def test_compound_assignment_and_properties():
    script = """
        var o = {count: 1, tags: []};
        o.count += 2; o.count *= 10; o['count'] -= 5; o.tags[1] = 'b';
        o.label = 'n' + o.count; o.count++;
        o
    """
    assert value(script) == {"count": 26, "tags": [None, "b"], "label": "n25"}


def test_execution_api_reads_and_writes_process_variables():
    variables = data()
    result = javascript.run("""
        var total = execution.getVariable('amount') + execution.getVariable('missing');
        execution.setVariable('total', total);
        execution.setVariable('present', [execution.hasVariable('amount'),
                                          execution.hasVariable('missing')]);
        execution.setVariable('names', Object.keys(execution.getVariables()).length);
        execution.removeVariable('blank');
        execution.setVariable('typed', execution.getVariableTyped('order').getValue().total);
        var local = 'not a process variable';
        execution.getProcessBusinessKey();
    """, variables, {"business_key": "B-7"})
    assert result == "B-7"
    assert variables["total"] == 250 and variables["present"] == [True, False]
    assert variables["typed"] == 120 and "blank" not in variables
    assert "local" not in variables and "total" in variables
    assert variables["_hidden"] == "internal"  # hidden keys survive, unseen


def test_undeclared_names_read_process_variables_and_unknown_ones_fail():
    assert value("amount + limit") == 350
    with pytest.raises(SandboxError, match="line 2: ReferenceError: nope is not defined"):
        value("var a = 1\nnope + 1")


def test_a_failing_script_leaves_the_data_unchanged():
    variables = data()
    with pytest.raises(SandboxError):
        javascript.run("execution.setVariable('x', 1); nothing.field", variables)
    assert "x" not in variables


def test_values_leave_as_plain_data():
    variables = {}
    javascript.run("execution.setVariable('u', [undefined, 1 / 0, S('{\"a\": 1}')])",
                   variables)
    assert variables["u"] == [None, None, {"a": 1}]


def test_spin_reads_json_text_and_data():
    variables = {"car": json.dumps({"price": 12500, "brand": "Q", "parts": [{"n": "a"}],
                                    "new": True})}
    javascript.run("""
        var carJson = execution.getVariableTyped("car").getValueSerialized();
        var price = S(carJson).prop("price").numberValue();
        execution.setVariable("price", price);
        var car = S(carJson);
        execution.setVariable("summary", [car.prop("brand").stringValue(), car.hasProp("x"),
            car.prop("new").boolValue(), car.prop("parts").elements()[0].prop("n").value(),
            car.prop("parts").toString()]);
    """, variables)
    assert variables["price"] == 12500
    assert variables["summary"] == ["Q", False, True, "a", '[{"n":"a"}]']


@pytest.mark.parametrize("script, where, message", [
    ("var d = new Date();", (1, 9), "'new' is not supported"),
    ("x = this.y", (1, 5), "'this' is not supported"),
    ("var r = /a+/.test(s)", (1, 9), "regular expressions are not supported"),
    ("var t = `a${b}`", (1, 9), "template literals are not supported"),
    ("function f(x) { return x }\nf(1)", (1, 1), "function declarations are not supported"),
    ("var a = 1;\n  eval('1')", (2, 3), "eval() is not supported"),
    ("var System = Java.type('java.lang.System')", (2 - 1, 19), "Java.type() is not supported"),
    ("var s = x.constructor", None, None),
    ("var __x = 1", (1, 5), "name '__x' is not allowed"),
    ("items.sort()", (1, 7), "method sort() is not supported"),
    ("execution.getProcessEngine()", (1, 11), "execution.getProcessEngine() is not available"),
    ("break", (1, 1), "'break' outside a loop"),
    ("const c = 1; c = 2", (1, 14), "assignment to constant 'c'"),
    ("var f = x => x", (1, 9), "a function is supported only as the callback"),
    ("if (a) {", (1, 9), "unexpected end of expression"),
    ("delete o.a", (1, 1), "'delete' is not supported"),
    ("try { a() } catch (e) {}", (1, 1), "'try' is not supported"),
    ("var a = 1;\nswitch (a) { case 1: a = 2 }", (2, 1), "'switch' is not supported"),
    ("var s = 'abc", (1, 9), "unexpected character"),
])
def test_what_is_outside_the_subset_is_refused_with_its_position(script, where, message):
    if message is None:  # reading a property is data access, never a Python attribute
        assert value(script + "; s", {"x": {}}) is None
        return
    with pytest.raises(SandboxError) as refused:
        javascript.check_script(script)
    assert message in str(refused.value)
    if where is not None:
        assert isinstance(refused.value, ExpressionSyntaxError)
        assert (refused.value.line, refused.value.column) == where


def test_the_sandbox_limits_hold():
    with pytest.raises(SandboxError, match="time limit"):
        value("while (true) {}")
    with pytest.raises(SandboxError, match="exceeds the limit"):
        value("var s = 'x'; for (var i = 0; i < 40; i++) { s = s + s }")
    with pytest.raises(SandboxError, match="longer than"):
        javascript.check_script("x = 1;" * 3000)
    with pytest.raises(SandboxError):
        value("var a = []; for (var i = 0; i < 200; i++) { a = [a] }; "
              "execution.setVariable('a', a)")

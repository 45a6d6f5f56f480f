"""Groovy scripts (Camunda 7's scriptFormat="groovy"): each construct of the subset, Groovy's
value semantics (Groovy truth, equals, BigDecimal literals), closures, Camunda's execution
API and Spin, refusals with their position, and the sandbox's limits."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from engine.expressions import ExpressionSyntaxError, groovy
from engine.sandbox import SandboxError
from tests.engine.scripts import data


def value(script: str, variables: dict | None = None):
    """The script's value (its return, else its last expression statement)."""
    return groovy.run(script, data() if variables is None else variables)


@pytest.mark.parametrize("script, expected", [
    # numbers: whole literals are integers, decimal literals BigDecimal (Python Decimal)
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", Decimal("3.5")), ("6 / 2", 3),
    ("7 % 3", 1), ("2 ** 10", 1024), ("0.1 + 0.2 == 0.3", True), ("1.5d * 2", 3.0),
    ("-amount + 1", -249), ("price * 2", Decimal("39.80")), ("10L + 1", 11),
    # + on text, lists and maps
    ("'a' + 1 + 2", "a12"), ("'n' + null", "nnull"), ("[1] + [2]", [1, 2]), ("[1] + 2", [1, 2]),
    ("[1, 2, 3] - [2]", [1, 3]), ("'ab' * 2", "abab"), ("[a: 1] + [b: 2]", {"a": 1, "b": 2}),
    # GStrings
    ('"total: ${amount + 1}"', "total: 251"), ('"hi $name!"', "hi Zhang Wei!"),
    ('"${order.lines[1].sku}/$order.total"', "Y2/120"), ("'no ${interpolation}'",
                                                         "no ${interpolation}"),
    ('"\\$5 and ${[1, 2]} and ${[a: 1]}"', "$5 and [1, 2] and [a:1]"),
    ('"""two\nlines $amount"""', "two\nlines 250"),
    # Groovy truth, && || ! ?: and ?.
    ("blank ?: 'default'", "default"), ("name ?: 'default'", "Zhang Wei"), ("!blank", True),
    ("![]", True), ("![:]", True), ("!0", True), ("!'x'", False), ("nothing ? 'y' : 'n'", "n"),
    ("items && name", True), ("blank || 0", False), ("nothing?.size", None),
    ("order?.total", 120), ("nothing?.size()", None),
    # equals semantics, <=> and comparisons
    ("[1, 2] == [1, 2]", True), ("[a: 1] == [a: 1]", True), ("1 == 1.0", True),
    ("'1' == 1", False), ("null == null", True), ("true == 1", False), ("name != 'Li'", True),
    ("1 <=> 2", -1), ("'b' <=> 'a'", 1), ("3 <=> 3.0", 0), ("amount > limit", True),
    ("'b' > 'a'", True), ("price < 20", True),
    # in, ranges, collections
    ("2 in items", True), ("'total' in order", True), ("'ng' in name", True),
    ("1..3", [1, 2, 3]), ("1..<3", [1, 2]), ("3..1", [3, 2, 1]), ("[:]", {}),
    ("[a: 1, 'b c': 2, 3: 4]", {"a": 1, "b c": 2, "3": 4}), ("items[0]", 3), ("items[-1]", 2),
    ("items[9]", None), ("order.nope", None), ("order['lines'][0].qty", 2),
    ("order.lines.sku", ["X1", "Y2"]),
    # methods
    ("items.size()", 3), ("name.size()", 9), ("name.length()", 9), ("dept.size()", 3),
    ("items.join('-')", "3-1-2"), ("items.contains(1)", True), ("name.contains('ng')", True),
    ("name.toUpperCase()", "ZHANG WEI"), ("name.toLowerCase()", "zhang wei"),
    ("'  x '.trim()", "x"), ("name.startsWith('Zh')", True), ("name.endsWith('Wei')", True),
    ("'a,b,c'.split(',')", ["a", "b", "c"]), ("name.substring(6)", "Wei"),
    ("name.substring(0, 5)", "Zhang"), ("'a-b-b'.replace('b', 'c')", "a-c-c"),
    ("blank.isEmpty()", True), ("items.isEmpty()", False), ("count_text.toInteger() + 1", 43),
    ("count_text as Integer", 42), ("'2.50' as BigDecimal", Decimal("2.50")),
    ("amount.toString()", "250"), ("items.toString()", "[3, 1, 2]"), ("items.sort()", [1, 2, 3]),
    ("items.max()", 3), ("items.first()", 3), ("order.containsKey('total')", True),
    ("order.keySet()", ["total", "lines"]), ("items.sum()", 6), ("2.4.round()", 2),
    # closures
    ("items.collect { it * 2 }", [6, 2, 4]), ("items.collect { x -> x + 1 }", [4, 2, 3]),
    ("items.findAll { it > 1 }", [3, 2]), ("items.find { it < 3 }", 1),
    ("items.find { it > 9 }", None), ("items.any { it > 2 }", True),
    ("items.every { it > 2 }", False), ("order.lines.sum { it.qty }", 7),
    ("items.count { it > 1 }", 2), ("items.findAll({ v -> v > 1 }).collect { it * 10 }", [30, 20]),
    ("order.lines.collect { l -> l.sku + ':' + l.qty }.join(',')", "X1:2,Y2:5"),
    ("[a: 1, b: 2].collect { k, v -> k + v }", ["a1", "b2"]),
    ("[a: 1, b: 2].any { k, v -> v > 1 }", True), ("[a: 1, b: 2].sum { k, v -> v }", 3),
])
def test_expressions_have_groovy_semantics(script, expected):
    result = value(script)
    assert result == expected and type(result) is type(expected), (result, expected)


def test_declarations_statements_loops_and_return():
    variables = data()
    result = groovy.run("""
        def total = 0
        int count = 0
        String label = "items"
        for (item in items) { total += item; count++ }
        for (int i = 0; i < 10; i++) {
            if (i == 2) continue
            if (i >= 4) break
            total += 100
        }
        def n = 3
        while (n > 0) { n-- ; total = total + 1 }
        def seen = []
        items.each { seen << it }
        order.lines.eachWithIndex { line, i -> seen.add(i) }
        [1, 2].each { v -> if (v == 1) return; seen.add(v * 10) }
        for (entry in [a: 1]) { seen.add(entry.key + entry.value) }
        [b: 2].each { k, v -> seen.add(k + v) }
        execution.setVariable('total', total)
        execution.setVariable('count', count)
        execution.setVariable('label', label + ':' + count)
        if (total > 300) {
            return seen
        } else {
            return 'small'
        }
        println 'never'
    """.replace("seen << it", "seen.add(it)"), variables)
    assert result == [3, 1, 2, 0, 1, 20, "a1", "b2"]
    assert variables["total"] == 6 + 300 + 3 and variables["count"] == 3
    assert variables["label"] == "items:3" and "seen" not in variables


def test_methods_are_called_without_parentheses_as_statements():
    variables = {"a": 1}
    result = groovy.run("""
        execution.setVariable 'b', execution.getVariable('a') + 1
        def xs = []
        xs.add 3
        xs.add 'x'
        execution.setVariable 'xs', xs
        xs.size()
    """, variables)
    assert variables == {"a": 1, "b": 2, "xs": [3, "x"]} and result == 2


def test_a_line_starting_with_a_bracket_or_parenthesis_is_a_new_statement():
    assert value("def v = items\n[1, 2].collect { it * 10 }") == [10, 20]
    assert value("def v = amount\n(v + 1)") == 251
    assert value("items [1]") == 1  # on one line, an index


def test_println_and_print_are_accepted_and_print_nothing(capsys):
    assert value("println 'hello world'\nprint('x')\nprintln()\n42") == 42
    assert capsys.readouterr().out == ""


def test_compound_assignment_properties_and_typed_declarations():
    variables = {"o": {"a": 1}, "xs": [1, 2]}
    groovy.run("""
        def o = execution.getVariable('o')
        o.b = 2
        o['c'] = o.a + o.b
        o.a *= 10
        o.d ?= 'set'
        o.d ?= 'kept'
        def xs = execution.getVariable('xs')
        xs[3] = 4
        int n = '7'
        execution.setVariable('o', o)
        execution.setVariable('xs', xs)
        execution.setVariable('n', n)
    """, variables)
    assert variables["o"] == {"a": 10, "b": 2, "c": 3, "d": "set"}
    assert variables["xs"] == [1, 2, None, 4] and variables["n"] == 7


def test_execution_api_reads_and_writes_process_variables():
    variables = {"a": 1, "gone": "x", "business_key": "B-1"}
    result = groovy.run("""
        execution.setVariable('b', execution.getVariable('a') + 1)
        execution.removeVariable('gone')
        execution.setVariable('has', [execution.hasVariable('a'), execution.hasVariable('zz')])
        execution.setVariable('key', execution.getProcessBusinessKey())
        execution.getVariables().keySet().sort()
    """, variables)
    assert variables == {"a": 1, "b": 2, "has": [True, False], "key": "B-1",
                         "business_key": "B-1"}
    assert result == ["a", "b", "business_key", "has", "key"]
    assert groovy.run("task.setVariable('t', 1)", variables) is None and variables["t"] == 1


def test_undeclared_names_read_process_variables_and_unknown_ones_fail():
    assert value("amount + limit") == 350
    with pytest.raises(SandboxError, match="line 2: .*No such property: nope"):
        value("def a = 1\nnope + 1")


def test_a_failing_script_leaves_the_data_unchanged():
    variables = {"a": 1}
    with pytest.raises(SandboxError):
        groovy.run("execution.setVariable('a', 2)\nnull.size()", variables)
    assert variables == {"a": 1}


def test_spin_reads_json_text_as_in_javascript():
    variables = {"car": json.dumps({"price": 12500, "brand": "Q", "parts": [{"n": "a"}]})}
    groovy.run("""
        def car = S(execution.getVariable('car'))
        execution.setVariable('price', car.prop('price').numberValue())
        execution.setVariable('summary', [car.prop('brand').stringValue(), car.hasProp('x'),
            car.prop('parts').elements()[0].prop('n').value(), car.prop('parts').toString()])
    """, variables)
    assert variables["price"] == 12500
    assert variables["summary"] == ["Q", False, "a", '[{"n":"a"}]']


@pytest.mark.parametrize("script, where, message", [
    ("def d = new Date()", (1, 9), "'new' is not supported"),
    ("x = this.y", (1, 5), "'this' is not supported"),
    ("import java.io.File\nx = 1", (1, 1), "'import' is not supported"),
    ("def a = 1\nclass A {}", (2, 1), "'class' is not supported"),
    ("@Grab('x')\nx = 1", (1, 1), "annotations are not supported"),
    ("def r = ~/a+/", (1, 9), "regular expressions are not supported"),
    ("def m = name =~ 'a'", (1, 14), "regular expressions are not supported"),
    ("def m = name ==~ 'a'", (1, 14), "regular expressions are not supported"),
    ("'ls'.execute()", (1, 6), "'execute' is not supported"),
    ("System.exit(0)", (1, 1), "'System' is not supported"),
    ("Runtime.getRuntime().exec('ls')", (1, 1), "'Runtime' is not supported"),
    ("Eval.me('1')", (1, 1), "'Eval' is not supported"),
    ("evaluate('1 + 1')", (1, 1), "evaluate() is not supported"),
    ("x = name.class", (1, 10), "'class' is not supported"),
    ("name.metaClass.foo = 1", (1, 6), "'metaClass' is not supported"),
    ("def __x = 1", (1, 5), "name '__x' is not allowed"),
    ("items.shuffle()", (1, 7), "method shuffle() is not supported"),
    ("execution.getProcessEngine()", (1, 11), "execution.getProcessEngine() is not available"),
    ("break", (1, 1), "'break' outside a loop"),
    ("def f = { it }", (1, 9), "a closure is supported only as the argument"),
    ("def l = items.findAll { a, b -> a }", (1, 23), "takes at most 1 parameters"),
    ("if (a) {", (1, 9), "unexpected end of expression"),
    ("try { a() } catch (e) {}", (1, 1), "'try' is not supported"),
    ("def s = 'abc", (1, 9), "unexpected character"),
    ('def s = "a ${x +}"', (1, 14), "cannot read the expression"),
    ('x = 1\ndef s = "a ${new Date()}"', (2, 14), "'new' is not supported"),
    ('def s = "$x ${System.exit(0)}"', (1, 15), "'System' is not supported"),
    ("def v = x as File", (1, 14), "'as File' is not supported"),
])
def test_what_is_outside_the_subset_is_refused_with_its_position(script, where, message):
    with pytest.raises(SandboxError) as refused:
        groovy.check_script(script)
    assert message in str(refused.value)
    assert isinstance(refused.value, ExpressionSyntaxError)
    assert (refused.value.line, refused.value.column) == where


def test_the_sandbox_limits_hold():
    with pytest.raises(SandboxError, match="time limit"):
        value("while (true) {}")
    with pytest.raises(SandboxError, match="exceeds the limit"):
        value("def s = 'x'\nfor (i in 1..40) { s = s + s }")
    with pytest.raises(SandboxError, match="exceeds the limit"):
        value("def r = 1..100000000")
    with pytest.raises(SandboxError, match="longer than"):
        groovy.check_script("x = 1;" * 3000)
    with pytest.raises(SandboxError):
        value("def a = []\nfor (i in 1..200) { a = [a] }\nexecution.setVariable('a', a)")

"""JUEL (Camunda 7 expressions): each construct, its EL coercions, its errors, its limits."""
from __future__ import annotations

from decimal import Decimal

import pytest

from engine import expressions, sandbox
from engine.expressions import ExpressionSyntaxError, Language
from engine.sandbox import SandboxError

DATA = {
    "approved": True, "rejected": False, "amount": 250, "limit": 100, "rate": 1.5,
    "price": Decimal("19.90"), "name": "Zhang Wei", "blank": "", "nothing": None,
    "items": ["a", "b", "c"], "none": [], "order": {"total": 120, "lines": [{"sku": "X1"}]},
    "dept": "质量部", "count_text": "42", "flag_text": "true",
}


def juel(expression: str, data: dict | None = None):
    """Evaluate as JUEL, as a diagram declaring JUEL (or written with #{...}) would."""
    stored = expressions.canonical(expression, Language.JUEL)
    assert expressions.detect(stored) is Language.JUEL
    return expressions.evaluate(stored, DATA if data is None else data)


@pytest.mark.parametrize("expression, expected", [
    # both wrappers
    ("${!approved}", False), ("#{!approved}", False), ("#{approved}", True),
    # not / !
    ("${not approved}", False), ("${!rejected}", True), ("${not not approved}", True),
    # and / && ; or / ||
    ("${approved && rejected}", False), ("${approved and !rejected}", True),
    ("${rejected || approved}", True), ("${rejected or rejected}", False),
    # == eq, != ne
    ("${amount == 250}", True), ("${amount eq 250}", True), ("${name != 'Li'}", True),
    ("${name ne 'Zhang Wei'}", False), ("${dept == '质量部'}", True),
    # < lt, <= le, > gt, >= ge
    ("${limit < amount}", True), ("${amount lt limit}", False), ("${limit <= 100}", True),
    ("${limit le 99}", False), ("${amount > limit}", True), ("${amount gt 250}", False),
    ("${amount >= 250}", True), ("${amount ge 251}", False),
    # empty
    ("${empty blank}", True), ("${empty nothing}", True), ("${empty none}", True),
    ("${empty items}", False), ("${not empty name}", True),
    # ? :
    ("${amount > limit ? 'review' : 'auto'}", "review"),
    ("${rejected ? 1 : approved ? 2 : 3}", 2),
    # null
    ("${nothing == null}", True), ("${name == null}", False), ("${null}", None),
    # property and index access
    ("${order.total > 100}", True), ("${order['total']}", 120), ("${items[1]}", "b"),
    ("${order.lines[0].sku == 'X1'}", True), ("${order.missing == null}", True),
    ("${items[7] == null}", True), ("${nothing.field}", None),
    # String methods
    ("${name.length()}", 9), ("${name.startsWith('Zhang')}", True),
    ("${name.endsWith('Wei')}", True), ("${name.contains('ng W')}", True),
    ("${name.equals('Zhang Wei')}", True), ("${name.equalsIgnoreCase('ZHANG wei')}", True),
    ("${name.toUpperCase()}", "ZHANG WEI"), ("${name.toLowerCase()}", "zhang wei"),
    ("${' x '.trim()}", "x"), ("${name.substring(6)}", "Wei"), ("${name.substring(0, 5)}", "Zhang"),
    ("${name.indexOf('W')}", 6), ("${blank.isEmpty()}", True), ("${name.charAt(0)}", "Z"),
    ("${name.replace('Wei', 'Li')}", "Zhang Li"), ("${items.size()}", 3),
    ("${items.contains('b')}", True), ("${order.containsKey('total')}", True),
    # execution.getVariable
    ("${execution.getVariable('amount') > 200}", True),
    ("${execution.getVariable(\"missing\") == null}", True),
    # Camunda Spin-style JSON navigation as in Camunda's own examples
    ("${order.prop('total').numberValue() >= 21}", True),
    # arithmetic and literals
    ("${amount + limit}", 350), ("${amount - 50 * 2}", 150), ("${amount / 100}", 2.5),
    ("${amount div 100}", 2.5), ("${amount % 7}", 5), ("${amount mod 7}", 5), ("${-amount}", -250),
    ("${price * 2}", Decimal("39.80")), ("${rate > 1}", True), ("${1.5e2}", 150.0),
    ("${'it\\'s'}", "it's"), ("${\"say \\\"hi\\\"\"}", 'say "hi"'),
])
def test_each_juel_construct_evaluates_as_camunda_7_would(expression, expected):
    assert juel(expression) == expected


@pytest.mark.parametrize("expression, expected", [
    ("${count_text == 42}", True),          # text coerced to a number against a number
    ("${count_text > 41}", True),
    ("${flag_text == true}", True),         # text coerced to a boolean against a boolean
    ("${nothing + 1}", 1),                  # null counts as 0 in arithmetic
    ("${nothing < 1}", False),              # and compares false
    ("${amount == 250.0}", True),
    ("${price == 19.9}", True),
    ("${!flag_text}", False),
])
def test_juel_coerces_operands_as_the_el_specification_says(expression, expected):
    assert juel(expression) == expected


def test_an_unknown_identifier_is_an_error_as_in_camunda():
    with pytest.raises(SandboxError, match="cannot resolve identifier 'missing'"):
        juel("${missing > 1}")


@pytest.mark.parametrize("expression, column, message", [
    ("${amount > }", 12, "unexpected"),
    ("${approved && && rejected}", 15, "unexpected"),
    ("${a ? b}", 8, "unexpected"),
    ("${name.__class__}", 8, "name '__class__' is not allowed"),
    ("${_hidden}", 3, "name '_hidden' is not allowed"),
    ("${name.format('x')}", 8, "method format() is not available"),
    ("${exec('1')}", 3, "function exec() is not available"),
    ("${execution.setVariable('a', 1)}", 13, "execution.setVariable() is not available"),
    ("${amount @ 2}", 10, "unexpected character '@'"),
])
def test_a_juel_error_names_its_column(expression, column, message):
    with pytest.raises(ExpressionSyntaxError) as caught:
        expressions.check(expression, Language.JUEL)
    assert caught.value.column == column
    assert caught.value.line == 1
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"line 1, column {column}: ")


def test_a_juel_error_on_a_later_line_names_that_line():
    with pytest.raises(ExpressionSyntaxError) as caught:
        expressions.check("${approved &&\n   ||}", Language.JUEL)
    assert (caught.value.line, caught.value.column) == (2, 4)


@pytest.mark.parametrize("expression", [
    "${x.__class__.__mro__}", "${''.__class__}", "${name['__class__']}", "${order.__dict__}",
])
def test_juel_cannot_reach_python_internals(expression):
    data = {"x": 1, "name": "n", "order": {}}
    try:
        result = expressions.evaluate(expression, data)
    except SandboxError:
        return
    assert result is None  # a map key that does not exist, never an attribute


def test_juel_results_and_work_are_bounded_by_the_sandbox():
    big = "x" * 60_000
    with pytest.raises(SandboxError, match="exceeds the limit"):
        expressions.evaluate("${s.concat(s)}", {"s": big})
    with pytest.raises(SandboxError, match="bits exceeds the limit"):
        expressions.evaluate("${n * n * n * n * n * n * n * n * n * n}", {"n": 10 ** 2000})


def test_a_juel_method_on_the_wrong_type_is_a_clear_error():
    with pytest.raises(SandboxError, match="Long has no method length"):
        juel("${amount.length()}")
    with pytest.raises(SandboxError, match="cannot call length\\(\\) on null"):
        juel("${nothing.length()}")


def test_juel_does_not_change_task_data():
    data = {"items": ["b", "a"], "order": {"total": 1}}
    expressions.evaluate("${items.contains('a') && order.size() == 1}", data)
    assert data == {"items": ["b", "a"], "order": {"total": 1}}


def test_compiled_juel_runs_the_sandboxes_checks():
    """The translation is checked like Python: a generated tree with a user-spelled _ name
    would be refused (defence in depth, since the translator never emits one)."""
    import ast
    tree = ast.Expression(body=ast.Name(id="__import__", ctx=ast.Load()))
    with pytest.raises(SandboxError, match="name '__import__' is not allowed"):
        sandbox.compile_translated(tree)


def test_juel_names_may_be_chinese():
    data = {"审批结果": "通过", "金额": 1200, "部门": {"名称": "质量部"}}
    assert juel("${审批结果 == '通过' && 金额 gt 1000}", data) is True
    assert juel("${部门.名称.length()}", data) == 3


@pytest.mark.parametrize("expression, expected", [
    ("${S(car).prop('price').numberValue() > 100}", True),
    ("${S(car_json).prop('brand').stringValue()}", "Q"),
    ("${S(car_json).prop('price').numberValue()}", 12500),
])
def test_spin_reads_json_text_or_data(expression, expected):
    data = {"car": {"price": 12500}, "car_json": '{"price": 12500, "brand": "Q"}'}
    assert juel(expression, data) == expected


def test_spin_in_dollar_braces_is_juel():
    assert expressions.detect("${S(car).prop('price').numberValue() > 100}") is Language.JUEL
    assert expressions.evaluate("${S(car).prop('price').numberValue() > 100}",
                                {"car": {"price": 120}}) is True


def test_spin_refuses_text_that_is_not_json():
    with pytest.raises(SandboxError, match="S\\(\\): not JSON"):
        juel("${S(name).prop('a')}", {"name": "plain"})

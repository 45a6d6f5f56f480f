"""XPath 1.0 (BPMN's default expression language): each construct, its type conversions as
the W3C recommendation states them, BPMN's data functions, its errors and its limits."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from engine import expressions, sandbox
from engine.expressions import ExpressionSyntaxError, Language
from engine.sandbox import SandboxError

DATA = {
    "approved": True, "rejected": False, "amount": 250, "limit": 100, "rate": 1.5,
    "price": Decimal("19.90"), "name": "Zhang Wei", "blank": "", "nothing": None,
    "items": [3, 4, 5], "none": [], "count_text": "42", "padded": "  a \t b\n c ",
    "dept": "质量部", "due": dt.date(2026, 3, 1), "names": ["Zhang", "Li", "Zhao"],
    "orders": [{"id": "a", "lines": [{"qty": 1}, {"qty": 2}]}, {"id": "b", "lines": [{"qty": 3}]}],
    "order": {"total": 120, "approved": False, "customer": {"name": "Li", "vip": True},
              "lines": [{"sku": "X1", "qty": 2, "price": 10},
                        {"sku": "Y2", "qty": 3, "price": 2.5}]},
    "_secret": "hidden",
}


def xpath(expression: str, data: dict | None = None):
    """Evaluate as XPath, as a diagram declaring XPath would: through the stored text."""
    stored = expressions.canonical(expression, Language.XPATH)
    assert expressions.stored_language(stored) is Language.XPATH
    return expressions.evaluate(stored, DATA if data is None else data)


def refusal(expression: str) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as caught:
        expressions.check(expression, Language.XPATH)
    return caught.value


@pytest.mark.parametrize("expression, expected", [
    # BPMN's data functions (MIWG C.1.1's conditions)
    ("bpmn:getDataObject('approved')", True), ("not(bpmn:getDataObject('approved'))", False),
    ("bpmn:getDataObject('name') = 'Zhang Wei'", True),
    ("bpmn:getDataInput('amount')", 250), ("bpmn:getDataOutput(\"limit\")", 100),
    ("bpmn:getProcessProperty('dept') = '质量部'", True), ("$amount > $limit", True),
    # or / and, with XPath's boolean conversions
    ("bpmn:getDataObject('approved') and bpmn:getDataObject('rejected')", False),
    ("bpmn:getDataObject('rejected') or bpmn:getDataObject('approved')", True),
    ("1 and 'text'", True), ("0 or ''", False), ("true() and not(false())", True),
    # comparisons
    ("$amount = 250", True), ("$amount != 250", False), ("$limit < $amount", True),
    ("$limit <= 100", True), ("$amount > 250", False), ("$amount >= 250", True),
    ("$price = 19.9", True),
    # arithmetic: doubles, div, mod, unary minus
    ("$amount + $limit", 350), ("$amount - 50 * 2", 150), ("$amount div 100", 2.5),
    ("$amount mod 7", 5), ("-$amount", -250), ("- - 3", 3), ("5 mod -3", 2), ("-5 mod 3", -2),
    ("$rate * 2", 3), ("(1 + 2) * 3", 9), (".5 + 1.", 1.5),
    # literals
    ('"say \'hi\'"', "say 'hi'"), ("'审批'", "审批"),
    # string functions
    ("string($amount)", "250"), ("string($rate)", "1.5"), ("string(true())", "true"),
    ("string($nothing)", ""), ("concat($name, ': ', $amount, '/', true())", "Zhang Wei: 250/true"),
    ("contains($name, 'ng W')", True), ("starts-with($name, 'Zhang')", True),
    ("starts-with($name, 'Wei')", False), ("string-length($dept)", 3),
    ("substring($name, 7)", "Wei"), ("substring('12345', 2, 3)", "234"),
    ("substring('12345', 1.5, 2.6)", "234"), ("substring('12345', 0, 3)", "12"),
    ("substring('12345', 0 div 0, 3)", ""), ("substring('12345', 1, 0 div 0)", ""),
    ("substring('12345', -42, 1 div 0)", "12345"), ("substring('12345', -1 div 0, 1 div 0)", ""),
    ("normalize-space($padded)", "a b c"), ("substring-before('2026-03-01', '-')", "2026"),
    ("substring-after('2026-03-01', '-')", "03-01"), ("translate('bar', 'abc', 'ABC')", "BAr"),
    ("translate('--aaa--', 'abc-', 'ABC')", "AAA"), ("string($due)", "2026-03-01"),
    # number and boolean functions
    ("number($count_text) + 1", 43), ("number(' 12.5 ')", 12.5), ("boolean($blank)", False),
    ("boolean($name)", True), ("boolean(0)", False), ("boolean($none)", False),
    ("boolean($items)", True), ("floor(2.7)", 2), ("ceiling(2.1)", 3), ("floor(-2.5)", -3),
    ("round(2.5)", 3), ("round(-2.5)", -2), ("round(2.4999)", 2),
    # node-sets: sum and count, paths into a data object
    ("count($items)", 3), ("sum($items)", 12), ("count($none)", 0), ("sum($none)", 0),
    ("bpmn:getDataObject('order')/total > 100", True),
    ("bpmn:getDataObject('order')/customer/name = 'Li'", True),
    ("count(bpmn:getDataObject('order')/lines)", 2),
    ("sum(bpmn:getDataObject('order')/lines/qty)", 5),
    ("bpmn:getDataObject('order')/lines/sku = 'Y2'", True),
    ("bpmn:getDataObject('order')/child::total", [120]),
    ("bpmn:getDataObject('order')/@total", [120]),
    ("count(bpmn:getDataObject('order')/*)", 5),
    ("bpmn:getDataObject('order')/lines/missing", []),
    ("count(bpmn:getDataObject('order')/total/deeper)", 0),
    # predicates: a number is a position (from 1), anything else a test of each node
    ("$items[1]", [3]), ("$items[last()]", [5]), ("$items[. > 3]", [4, 5]),
    ("$items[position() mod 2 = 1]", [3, 5]), ("$items[. > 3][1]", [4]),
    ("$items[0]", []), ("$items[1.5]", []), ("$items[$items]", [3, 4, 5]),
    ("bpmn:getDataObject('order')/lines[qty > 2]/sku", ["Y2"]),
    ("bpmn:getDataObject('order')/lines[2]/price * 2", 5),
    ("bpmn:getDataObject('order')/lines[starts-with(sku, 'X')]/qty", [2]),
    ("count($names[string-length() = 2])", 1),
    ("sum(bpmn:getDataObject('orders')/lines[1]/qty)", 4),       # the first of each order's
    ("bpmn:getDataObject('orders')[lines/qty = 3]/id", ["b"]),
])
def test_each_xpath_construct_evaluates_as_the_recommendation_says(expression, expected):
    assert xpath(expression) == expected


@pytest.mark.parametrize("expression, expected", [
    # neither side a node-set: a boolean makes both booleans, else a number both numbers
    ("$count_text = 42", True), ("'1.0' = 1", True), ("'abc' = 0 div 0", False),
    ("true() = 'x'", True), ("false() = ''", True), ("true() = 2", True),
    ("'1.0' = '1'", False),                 # two strings compare as text
    ("'10' > '9'", True),                   # <, >... always compare numbers
    ("'abc' < 'abd'", False),               # NaN compares false
    # a node-set against a value: some node's string-value matches
    ("$items = 4", True), ("$items = 7", False), ("$items != 4", True),
    ("$items > 4", True), ("$items > 5", False), ("$items = '5'", True),
    ("$none = 0", False), ("$none != 0", False),       # an empty node-set matches nothing
    ("$nothing = ''", False), ("bpmn:getDataObject('missing') = ''", False),
    # a node-set against a boolean: the node-set's boolean
    ("$items = true()", True), ("$none = false()", True),
    ("bpmn:getDataObject('order')/approved = true()", True),   # a node exists: true in XPath
    ("bpmn:getDataObject('order')/approved = 'false'", True),  # its string-value is 'false'
    ("bpmn:getDataObject('order')/customer/vip = 'true'", True),
    # node-set against node-set: some pair of nodes matches
    ("$items = bpmn:getDataObject('order')/lines/qty", True),
    ("$items != $items", True), ("count($none) = 0 and $items < $items", True),
    ("bpmn:getDataObject('order')/lines/qty >= $items", True),
    ("bpmn:getDataObject('order')/lines/qty > $items", False),
    # an object's string-value is its members' text, in order
    ("string(bpmn:getDataObject('order')/customer)", "Litrue"),
])
def test_comparisons_convert_types_as_xpath_1_section_3_4_says(expression, expected):
    assert xpath(expression) is expected if isinstance(expected, bool) else \
        xpath(expression) == expected


def test_division_by_zero_is_infinity_or_nan_not_an_error():
    assert xpath("1 div 0") == math.inf and xpath("-1 div 0") == -math.inf
    assert math.isnan(xpath("0 div 0")) and math.isnan(xpath("5 mod 0"))
    assert xpath("string(1 div 0)") == "Infinity" and xpath("string(0 div 0)") == "NaN"
    assert math.isnan(xpath("number('12abc')")) and math.isnan(xpath("number('1e3')"))


def test_numbers_print_without_exponents_or_a_trailing_point_zero():
    assert xpath("string(0.000001)") == "0.000001"
    assert xpath("string(2 div 4)") == "0.5" and xpath("string(6 div 2)") == "3"
    assert xpath("string(-0.0)") == "0"
    assert xpath("string(1000000 * 1000000 * 1000000 * 1000000)") == "1" + "0" * 24


def test_what_leaves_an_expression_is_plain_data():
    """A node-set leaves as the list of its nodes, true when not empty, as XPath's boolean."""
    assert xpath("bpmn:getDataObject('order')/customer") == [{"name": "Li", "vip": True}]
    assert xpath("bpmn:getDataObject('order')/lines/sku") == ["X1", "Y2"]
    assert xpath("bpmn:getDataObject('nothing')") == []
    assert xpath("$amount div 10") == 25 and isinstance(xpath("$amount div 10"), int)
    assert xpath("$due") == "2026-03-01"


def test_missing_data_is_the_empty_node_set_never_an_error():
    assert xpath("bpmn:getDataObject('missing')") == []
    assert xpath("not(bpmn:getDataObject('missing'))") is True
    assert xpath("count(bpmn:getDataObject('missing'))") == 0


def test_hidden_data_and_python_internals_stay_out_of_reach():
    assert xpath("bpmn:getDataObject('_secret')") == []
    assert xpath("$_secret") == []
    assert xpath("bpmn:getDataObject('__builtins__')") == []
    assert xpath("count(bpmn:getDataObject('order')/__class__)") == 0
    assert xpath("bpmn:getDataObject(concat('_', 'secret'))") == []


@pytest.mark.parametrize("expression, column, message", [
    ("bpmn:getDataObject('a') =", 26, "unexpected end of expression"),
    ("$amount >> 1", 10, "unexpected '>'"),
    ("amount > 1", 1, "the path 'amount' reads the context node, and a diagram's expression "
                      "has no context node; read process data with bpmn:getDataObject('amount')"),
    ("approved", 1, "read process data with bpmn:getDataObject('approved')"),
    ("/process/amount", 1, "the absolute path '/process/amount' is not available"),
    ("string()", 1, "string() reads the context node"),
    ("position() = 1", 1, "position() reads the context node"),
    ("upper-case('a')", 1, "function upper-case() is not available"),
    ("getDataObject('a')", 1, "BPMN's functions are written bpmn:getDataObject(...)"),
    ("ex:getDataObject('a')", 1, "BPMN's functions are written bpmn:getDataObject(...)"),
    ("bpmn:getActivityProperty('review', 'outcome')", 1,
     "bpmn:getActivityProperty() is not available: DutyFlow keeps no data per activity"),
    ("bpmn:getDataObject()", 1, "bpmn:getDataObject() takes 1 argument (the name), not 0"),
    ("bpmn:getFoo('a')", 1, "function bpmn:getFoo() is not available"),
    ("concat('a')", 1, "concat() takes 2 or more arguments, not 1"),
    ("substring('a', 1, 2, 3)", 1, "substring() takes 2 to 3 arguments, not 4"),
    ("not(1, 2)", 1, "not() takes 1 argument, not 2"),
    ("$order//amount", 7, "descendant paths (//) are not available"),
    ("$order/../x", 8, "'..' is not available: process data has no parents"),
    ("$items[..]", 8, "'..' is not available"),
    (".", 1, "the path '.' reads the context node"),
    ("last()", 1, "last() reads the context node"),
    ("name($order)", 1, "name() is not available"),
    ("$order/parent::x", 8, "the parent:: axis is not available"),
    ("$order/text()", 8, "node type tests (text(), node()...) are not available"),
    ("$a | $b", 6, "unions (|) are not available"),
    ("$x:y", 1, "variable $x:y is not available"),
    ("1e5", 2, "unexpected"),
    ("'unclosed", 1, "unexpected character"),
    ("${approved}", 1, "unexpected character '$'"),
    ("=approved", 1, "unexpected"),
])
def test_what_does_not_parse_or_cannot_run_is_refused_with_its_column(expression, column,
                                                                     message):
    error = refusal(expression)
    assert (error.line, error.column) == (1, column), str(error)
    assert message in error.reason


def test_an_error_on_a_later_line_names_that_line():
    error = refusal("bpmn:getDataObject('a') = 1 and\n   nonsense(2)")
    assert (error.line, error.column) == (2, 4)
    assert str(error).startswith("line 2, column 4: function nonsense() is not available")


def test_sum_count_steps_and_predicates_want_a_node_set():
    with pytest.raises(SandboxError, match="\\[...\\] needs a node-set"):
        xpath("$amount[1]")
    with pytest.raises(SandboxError, match="count\\(\\) needs a node-set"):
        xpath("count($amount)")
    with pytest.raises(SandboxError, match="/ needs a node-set"):
        xpath("bpmn:getDataObject('name')/first")


def test_xpath_is_never_guessed_from_the_text():
    for text in ("bpmn:getDataObject('approved')", "not(approved)", "xpath:true()"):
        assert expressions.detect(text) is Language.PYTHON
    assert expressions.detect("approved = 1", Language.XPATH) is Language.XPATH
    assert expressions.declared_language("http://www.w3.org/1999/XPath") is None  # DMN
    assert expressions.declared_bpmn_language("http://www.w3.org/1999/XPath") is Language.XPATH


def test_limits_hold_inside_xpath_functions():
    big = {"text": "x" * 60_000}
    with pytest.raises(SandboxError, match="exceeds the limit"):
        xpath("concat($text, $text)", big)
    deep: dict = {}
    for _ in range(150):
        deep = {"a": deep}
    with pytest.raises(SandboxError, match="nested more than"):
        xpath("string($deep)", {"deep": deep})


def test_a_long_running_expression_is_stopped_by_the_time_limit(monkeypatch):
    monkeypatch.setattr(sandbox, "TIME_LIMIT_SECONDS", 0.05)
    items = {"items": list(range(90_000))}
    chained = " and ".join(["$items = $items"] * 90)
    with pytest.raises(SandboxError, match="time limit"):
        xpath(chained, items)


def test_the_stored_text_is_compiled_once():
    stored = expressions.canonical("$amount > 1", Language.XPATH)
    assert expressions.compiled(stored) is expressions.compiled(stored)


def test_nested_predicates_over_large_data_are_stopped_by_the_time_limit(monkeypatch):
    monkeypatch.setattr(sandbox, "TIME_LIMIT_SECONDS", 0.05)
    with pytest.raises(SandboxError, match="time limit"):
        xpath("count($items[$items[. = 1]])", {"items": list(range(50_000))})

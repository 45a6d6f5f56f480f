"""What XPath 1.0 means at run time over DutyFlow's process data: its four types, the
conversions between them (XPath 1.0, sections 3.4 and 4) and the core functions.

Process data is JSON-like, not XML, so `bpmn:getDataObject('x')` gives x's value with its
own type: a boolean, number or string is that XPath type; an object is a node (a node-set
of one), a list a node-set of its items, null or a missing name the empty node-set. Steps
of a path (`bpmn:getDataObject('order')/lines/amount`) select an object's members as
nodes, each list item a node of its own, as the XML of the same data would. From there
XPath's rules hold: a node's string-value is its text (an object's: its members' text in
order), a non-empty node-set is true, and `=` between a node-set and a value is true when
some node matches.

Generated code calls these as `_sandbox_xpath_*` globals. Every one is bounded: values are
measured (sandbox._bounded) before they are walked, and text that can grow is
length-checked, so the sandbox's limits hold here as they do for Python.
"""
from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from engine import sandbox
from engine.sandbox import SandboxError


class NodeSet:
    """An XPath node-set: the data values selected, in document order."""

    __slots__ = ("nodes",)

    def __init__(self, nodes: tuple[Any, ...] = ()):
        self.nodes = nodes

    def __repr__(self) -> str:
        return f"NodeSet({len(self.nodes)} nodes)"


EMPTY = NodeSet()
_NUMBER = re.compile(r"[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*\Z")
_XML_SPACE = re.compile(r"[ \t\r\n]+")
_EXACT_FLOAT_INTEGERS = 2**53


def _type_name(value: Any) -> str:
    if isinstance(value, NodeSet):
        return "node-set"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    return "string"


# ---------------------------------------------------------------------------- values

def node_set(value: Any) -> Any:
    """A process data value as an XPath value (see the module's docstring)."""
    if value is None:
        return EMPTY
    if isinstance(value, list):
        return NodeSet(tuple(value))
    if isinstance(value, tuple):
        return NodeSet(value)
    if isinstance(value, dict):
        return NodeSet((value,))
    if isinstance(value, date):
        return value.isoformat()
    return value


def data(scope: Mapping[str, Any], name: Any) -> Any:
    """bpmn:getDataObject / getDataInput / getDataOutput / getProcessProperty: the process
    data of that name (the empty node-set when there is none)."""
    key = to_string(name)
    return node_set(scope.get(key)) if sandbox._is_visible(key) else EMPTY


def variable(scope: Mapping[str, Any], name: str) -> Any:
    """`$name`: process data, as bpmn:getDataObject('name')."""
    return data(scope, name)


def step(value: Any, name: str) -> NodeSet:
    """`value/name`: the members `name` of every object node (`*`: all members), list
    items one node each."""
    nodes = _nodes(value, "/")
    selected: list[Any] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        members = node.values() if name == "*" else (
            (node[name],) if name in node else ())
        for member in members:
            if isinstance(member, (list, tuple)):
                selected.extend(member)
            else:
                selected.append(member)
        sandbox._check_length(len(selected))
    return NodeSet(tuple(selected))


def groups(value: Any, name: str) -> list[NodeSet]:
    """`value/name` per context node: the node-sets a step's predicates filter one by one."""
    return [step(NodeSet((node,)), name) for node in _nodes(value, "/")]


def flatten(node_sets: list[NodeSet]) -> NodeSet:
    nodes = tuple(node for one in node_sets for node in one.nodes)
    sandbox._check_length(len(nodes))
    return NodeSet(nodes)


def nodes_of(value: Any) -> NodeSet:
    """A value a predicate filters or `.` keeps: it must be a node-set."""
    _nodes(value, "[...]")
    return value


def enumerate_nodes(value: NodeSet) -> list[tuple[int, Any, int]]:
    """(position from 1, node, last) for the nodes a predicate reads in turn."""
    count = len(value.nodes)
    return [(position, node, count) for position, node in enumerate(value.nodes, 1)]


def keep(value: Any, position: int) -> bool:
    """A predicate's verdict: a number means `position() = number`."""
    if _is_number(value):
        return to_number(value) == position
    return to_boolean(value)


def context(node: Any) -> NodeSet:
    """The context node of a predicate, as the node-set `.`."""
    return NodeSet((node,))


def _nodes(value: Any, what: str) -> tuple[Any, ...]:
    if not isinstance(value, NodeSet):
        raise SandboxError(f"{what} needs a node-set (process data that is an object or a "
                           f"list), not a {_type_name(value)}")
    return value.nodes


def result(value: Any) -> Any:
    """What leaves the expression: node-sets as the list of their nodes (true when not
    empty, as in XPath), whole numbers as integers."""
    if isinstance(value, NodeSet):
        return [_plain(node) for node in value.nodes]
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT_INTEGERS:
        return int(value)
    return value


def _plain(node: Any) -> Any:
    return node.isoformat() if isinstance(node, date) else node


# ----------------------------------------------------------------------- conversions

def string_value(node: Any) -> str:
    """A node's text: an object's or list's is its members' text, in order."""
    if isinstance(node, (dict, list, tuple)):
        sandbox._bounded(node)
        parts: list[str] = []
        pending = [node]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                pending.extend(reversed(list(item.values())))
            elif isinstance(item, (list, tuple)):
                pending.extend(reversed(item))
            elif item is not None:
                parts.append(_scalar_string(item))
        return "".join(parts)
    return "" if node is None else _scalar_string(node)


def _scalar_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return _number_string(to_number(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _number_string(number: float) -> str:
    """XPath's number-to-string: no exponent, no `.0` on whole numbers."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    # The shortest decimal that reads back as the same double: 1e24 prints as 1 and 24 zeros.
    written = Decimal(repr(number))
    return format(written.to_integral_value() if number.is_integer() else written, "f")


def to_string(value: Any) -> str:
    """string(): a node-set's first node's text, '' when empty."""
    if isinstance(value, NodeSet):
        return string_value(value.nodes[0]) if value.nodes else ""
    return _scalar_string(value)


def to_number(value: Any) -> float:
    """number(): XPath numbers are IEEE doubles; text that is not a number is NaN."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, (int, Decimal)):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
        except ValueError:  # Decimal('sNaN')
            return math.nan
    text = to_string(value)
    match = _NUMBER.match(text)  # linear: no nested repetition to backtrack into
    return float(match.group(1)) if match else math.nan


def to_boolean(value: Any) -> bool:
    """boolean(): a number is true unless 0 or NaN, text unless empty, a node-set unless
    empty."""
    if isinstance(value, bool):
        return value
    if isinstance(value, NodeSet):
        return bool(value.nodes)
    if isinstance(value, (int, float, Decimal)):
        number = to_number(value)
        return number != 0 and not math.isnan(number)
    return len(to_string(value)) > 0


# ------------------------------------------------------------------------- operators

_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compare(symbol: str, left: Any, right: Any) -> bool:
    """`= != < <= > >=` with XPath 1.0's rules (section 3.4)."""
    left_set, right_set = isinstance(left, NodeSet), isinstance(right, NodeSet)
    if left_set and right_set:
        return _compare_node_sets(symbol, left.nodes, right.nodes)
    if left_set or right_set:
        nodes, other = (left.nodes, right) if left_set else (right.nodes, left)
        if isinstance(other, bool):
            return _compare_values(symbol, to_boolean(left), to_boolean(right))
        if left_set:
            return any(_compare_values(symbol, string_value(node), other) for node in nodes)
        return any(_compare_values(symbol, other, string_value(node)) for node in nodes)
    return _compare_values(symbol, left, right)


def _compare_values(symbol: str, left: Any, right: Any) -> bool:
    if symbol in ("=", "!="):
        if isinstance(left, bool) or isinstance(right, bool):
            equal = to_boolean(left) == to_boolean(right)
        elif _is_number(left) or _is_number(right):
            equal = to_number(left) == to_number(right)
        else:
            equal = to_string(left) == to_string(right)
        return equal if symbol == "=" else not equal
    return _ORDERINGS[symbol](to_number(left), to_number(right))


def _compare_node_sets(symbol: str, left: tuple, right: tuple) -> bool:
    """Some pair of nodes compares true: decided from sets and extremes, so two large
    node-sets cost their size, not its square."""
    if not left or not right:
        return False
    if symbol in ("=", "!="):
        left_texts = {string_value(node) for node in left}
        right_texts = {string_value(node) for node in right}
        if symbol == "=":
            return not left_texts.isdisjoint(right_texts)
        return len(left_texts | right_texts) > 1
    left_numbers = [n for n in map(to_number, map(string_value, left)) if not math.isnan(n)]
    right_numbers = [n for n in map(to_number, map(string_value, right)) if not math.isnan(n)]
    if not left_numbers or not right_numbers:
        return False
    if symbol in ("<", "<="):
        return _ORDERINGS[symbol](min(left_numbers), max(right_numbers))
    return _ORDERINGS[symbol](max(left_numbers), min(right_numbers))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def arithmetic(symbol: str, left: Any, right: Any) -> float:
    """`+ - * div mod` on IEEE doubles: division by zero is Infinity or NaN, not an error;
    `mod` keeps the sign of the dividend, as in Java."""
    a, b = to_number(left), to_number(right)
    if symbol == "+":
        return a + b
    if symbol == "-":
        return a - b
    if symbol == "*":
        return a * b
    if symbol == "div":
        if b == 0:
            if a == 0 or math.isnan(a):
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def negate(value: Any) -> float:
    return -to_number(value)


# ------------------------------------------------------------------------- functions

def _concat(*values: Any) -> str:
    parts = [to_string(value) for value in values]
    sandbox._check_length(sum(map(len, parts)))
    return "".join(parts)


def _substring_before(text: Any, part: Any) -> str:
    text, part = to_string(text), to_string(part)
    found = text.find(part)
    return text[:found] if found >= 0 else ""


def _substring_after(text: Any, part: Any) -> str:
    text, part = to_string(text), to_string(part)
    found = text.find(part)
    return text[found + len(part):] if found >= 0 else ""


def _substring(text: Any, start: Any, length: Any = None) -> str:
    """Characters at positions p (from 1) with round(start) <= p < round(start) +
    round(length), NaN and infinities included (XPath 4.2's examples)."""
    text = to_string(text)
    first = _round(to_number(start))
    last = math.inf if length is None else first + _round(to_number(length))
    if math.isnan(first) or math.isnan(last) or last <= first:
        return ""
    begin = 0 if first < 1 else (len(text) if first > len(text) else int(first) - 1)
    end = len(text) if last > len(text) + 1 else max(int(last) - 1, 0)
    return text[begin:end]


def _normalize_space(text: Any) -> str:
    return _XML_SPACE.sub(" ", to_string(text)).strip(" ")


def _translate(text: Any, source: Any, target: Any) -> str:
    text, source, target = to_string(text), to_string(source), to_string(target)
    table: dict[int, int | None] = {}
    for position, char in enumerate(source):
        table.setdefault(ord(char), ord(target[position]) if position < len(target) else None)
    return text.translate(table)


def _sum(value: Any) -> float:
    return math.fsum(to_number(string_value(node)) for node in _nodes(value, "sum()"))


def _count(value: Any) -> float:
    return float(len(_nodes(value, "count()")))


def _round(number: float) -> float:
    """XPath's round(): the closest integer, halves towards positive infinity."""
    if math.isnan(number) or math.isinf(number) or number.is_integer():
        return number
    rounded = float(math.floor(number + 0.5))
    return -0.0 if rounded == 0 and number < 0 else rounded


def _floor(value: Any) -> float:
    number = to_number(value)
    return number if math.isnan(number) or math.isinf(number) else float(math.floor(number))


def _ceiling(value: Any) -> float:
    number = to_number(value)
    return number if math.isnan(number) or math.isinf(number) else float(math.ceil(number))


# XPath name -> (fewest arguments, most arguments or None for any, implementation). The
# forms without arguments that read the context node are refused by the translator: an
# expression in a diagram has no context node.
FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
    "true": (0, 0, lambda: True),
    "false": (0, 0, lambda: False),
    "not": (1, 1, lambda value: not to_boolean(value)),
    "boolean": (1, 1, to_boolean),
    "number": (1, 1, to_number),
    "string": (1, 1, to_string),
    "concat": (2, None, _concat),
    "contains": (2, 2, lambda text, part: to_string(part) in to_string(text)),
    "starts-with": (2, 2, lambda text, part: to_string(text).startswith(to_string(part))),
    "substring-before": (2, 2, _substring_before),
    "substring-after": (2, 2, _substring_after),
    "substring": (2, 3, _substring),
    "string-length": (1, 1, lambda text: float(len(to_string(text)))),
    "normalize-space": (1, 1, _normalize_space),
    "translate": (3, 3, _translate),
    "sum": (1, 1, _sum),
    "count": (1, 1, _count),
    "floor": (1, 1, _floor),
    "ceiling": (1, 1, _ceiling),
    "round": (1, 1, lambda value: _round(to_number(value))),
}


def helper_name(function: str) -> str:
    return "xpath_fn_" + function.replace("-", "_")


HELPERS: dict[str, Any] = {
    f"{sandbox.GENERATED_PREFIX}{name}": function for name, function in {
        "xpath_bool": to_boolean, "xpath_compare": compare, "xpath_arith": arithmetic,
        "xpath_neg": negate, "xpath_data": data, "xpath_var": variable, "xpath_step": step,
        "xpath_result": result, "xpath_groups": groups, "xpath_flatten": flatten,
        "xpath_nodes_of": nodes_of, "xpath_enumerate": enumerate_nodes, "xpath_keep": keep,
        "xpath_context": context, "xpath_node_set": lambda nodes: NodeSet(tuple(nodes)),
        **{helper_name(name): implementation
           for name, (_, _, implementation) in FUNCTIONS.items()},
    }.items()
}
sandbox.register_helper_module(__file__)

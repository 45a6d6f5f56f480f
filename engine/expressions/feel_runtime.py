"""What FEEL means at run time: null propagation, three-valued logic, ranges and unary
tests, paths, filters, and the built-in functions that real Camunda 8 diagrams call.

FEEL never throws for a type mismatch: `"a" < 1` or `null + 1` is null, and a gateway
condition that is null is not taken. Generated code calls these as `_sandbox_feel_*`
globals. Every one is bounded: values are measured (sandbox._bounded) before C code
compares, hashes or prints them, and whatever can grow is length-checked.
"""
from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine import sandbox
from engine.sandbox import SandboxError

_NUMBER = (int, float, Decimal)


def is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SandboxError("a number is not finite")
        return Decimal(repr(value))
    return Decimal(value)


def _kind(value: Any) -> str:
    """FEEL's type of a value, for deciding which values compare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "date and time"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.timedelta):
        return "duration"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "context"
    if isinstance(value, Range):
        return "range"
    return type(value).__name__


@dataclass(frozen=True)
class Range:
    """A FEEL interval such as `[1..10]` or `(0..1]`; only ever a value during a run."""

    start: Any
    end: Any
    start_closed: bool
    end_closed: bool

    def contains(self, value: Any) -> bool | None:
        low = less(self.start, value) if not self.start_closed else less_equal(self.start, value)
        high = less(value, self.end) if not self.end_closed else less_equal(value, self.end)
        return conjunction(low, high)


# ----------------------------------------------------------------- logic (three-valued)

def conjunction(left: Any, right: Any) -> bool | None:
    if left is False or right is False:
        return False
    if left is True and right is True:
        return True
    return None


def disjunction(left: Any, right: Any) -> bool | None:
    if left is True or right is True:
        return True
    if left is False and right is False:
        return False
    return None


def negation(value: Any) -> bool | None:
    return (not value) if isinstance(value, bool) else None


def some(results: list) -> bool | None:
    if any(result is True for result in results):
        return True
    return False if all(result is False for result in results) else None


def every(results: list) -> bool | None:
    if any(result is False for result in results):
        return False
    return True if all(result is True for result in results) else None


def test_outcome(value: Any) -> bool | None:
    """An input entry written as an expression of `?` (`? > 5 and ? < 10`): its boolean
    value decides; anything else is no match."""
    return value if isinstance(value, bool) else None


def is_true(value: Any) -> bool:
    """The test of `if ... then ... else`: only true takes the `then` branch."""
    return value is True


# ------------------------------------------------------------------------ comparisons

def equal(left: Any, right: Any) -> bool | None:
    """`=`: null equals only null; values of different types are not comparable (null)."""
    if left is None or right is None:
        return left is None and right is None
    kind = _kind(left)
    if kind != _kind(right):
        return None
    if kind == "number":
        return _decimal(left) == _decimal(right)
    if kind in ("list", "context"):
        return sandbox._bounded(_plain(left)) == sandbox._bounded(_plain(right))
    if kind == "date and time" and (left.tzinfo is None) != (right.tzinfo is None):
        return None
    return left == right


def _plain(value: Any) -> Any:
    """Lists and contexts compared item by item with FEEL's number equality."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if is_number(value):
        return _decimal(value)
    return value


def not_equal(left: Any, right: Any) -> bool | None:
    return negation(equal(left, right))


def _ordering(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def ordered(left: Any, right: Any) -> bool | None:
        kind = _kind(left)
        if kind != _kind(right) or kind not in ("number", "string", "date", "date and time",
                                                "duration"):
            return None
        if kind == "number":
            left, right = _decimal(left), _decimal(right)
        try:
            return compare(left, right)
        except TypeError:  # naive against aware date-times
            return None
    return ordered


less = _ordering(operator.lt)
less_equal = _ordering(operator.le)
greater = _ordering(operator.gt)
greater_equal = _ordering(operator.ge)
_COMPARE = {"=": equal, "!=": not_equal, "<": less, "<=": less_equal, ">": greater,
            ">=": greater_equal}


def compare(symbol: str, left: Any, right: Any) -> bool | None:
    return _COMPARE[symbol](left, right)


def between(value: Any, low: Any, high: Any) -> bool | None:
    return conjunction(greater_equal(value, low), less_equal(value, high))


def interval(start: Any, end: Any, start_closed: bool, end_closed: bool) -> Range:
    return Range(start, end, start_closed, end_closed)


def in_tests(value: Any, tests: tuple) -> bool | None:
    """`value in test` or `value in (test, test...)`: a test is ("<", x) for a comparison or
    ("", x) for a value, which matches by range, by list membership or by equality."""
    result: bool | None = False
    for symbol, operand in tests:
        if symbol:
            outcome = compare(symbol, value, operand)
        elif isinstance(operand, Range):
            outcome = operand.contains(value)
        elif isinstance(operand, (list, tuple)) and not isinstance(value, (list, tuple)):
            outcome = some([equal(value, item) for item in operand])
        else:
            outcome = equal(value, operand)
        result = disjunction(result, outcome)
        if result is True:
            return True
    return result


# ------------------------------------------------------------------------- arithmetic

def _number_operation(symbol: str, left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and symbol != "/":
        if symbol == "**" and right < 0:
            return _decimal(left) ** right
        return {"+": operator.add, "-": operator.sub, "*": sandbox._HELPERS["_sandbox_mul"],
                "**": sandbox._HELPERS["_sandbox_pow"]}[symbol](left, right)
    left, right = _decimal(left), _decimal(right)
    if symbol == "**":
        if right != right.to_integral_value() or abs(right) > 999_999:
            return None
        return left ** right
    return {"+": operator.add, "-": operator.sub, "*": operator.mul,
            "/": operator.truediv}[symbol](left, right)


def arithmetic(symbol: str, left: Any, right: Any) -> Any:
    """+ - * / ** on numbers, text (+ only), dates, date-times and durations; null otherwise."""
    if left is None or right is None:
        return None
    try:
        if is_number(left) and is_number(right):
            return _number_operation(symbol, left, right)
        if symbol == "+" and isinstance(left, str) and isinstance(right, str):
            sandbox._check_length(len(left) + len(right))
            return left + right
        return _temporal(symbol, left, right)
    except ArithmeticError:  # division by zero, Decimal overflow or invalid operation
        return None


def _temporal(symbol: str, left: Any, right: Any) -> Any:
    if isinstance(right, dt.timedelta) and isinstance(left, (dt.date, dt.timedelta)) \
            and symbol in ("+", "-"):
        return left + right if symbol == "+" else left - right
    if isinstance(left, dt.timedelta) and isinstance(right, dt.date) and symbol == "+":
        return right + left
    if symbol == "-" and isinstance(left, dt.date) and type(left) is type(right):
        try:
            return left - right
        except TypeError:
            return None
    if isinstance(left, dt.timedelta) and is_number(right) and symbol in ("*", "/"):
        seconds = _decimal(left.total_seconds())
        seconds = seconds * _decimal(right) if symbol == "*" else seconds / _decimal(right)
        return dt.timedelta(seconds=float(seconds))
    return None


def negate(value: Any) -> Any:
    if is_number(value):
        return -value
    return -value if isinstance(value, dt.timedelta) else None


def number(text: str) -> int | Decimal:
    """A number literal: an int when it has no fraction, else an exact Decimal."""
    return int(text) if text.isdigit() else Decimal(text)


# ----------------------------------------------------------------- names, paths, filters

def variable(scope: Mapping[str, Any], name: str) -> Any:
    """A name: the task variable, or null when there is none."""
    return scope.get(name)


def member_or(item: Any, name: str, otherwise: Any) -> Any:
    """A name inside a filter: the current item's entry if it has one, else the outer name."""
    if isinstance(item, dict) and name in item:
        return item[name]
    return otherwise


_TEMPORAL_PROPERTIES: dict[str, Callable[[Any], Any]] = {
    "year": lambda value: value.year, "month": lambda value: value.month,
    "day": lambda value: value.day, "weekday": lambda value: value.isoweekday(),
    "hour": lambda value: value.hour, "minute": lambda value: value.minute,
    "second": lambda value: value.second,
    "days": lambda value: value.days, "hours": lambda value: value.seconds // 3600,
    "minutes": lambda value: value.seconds // 60 % 60, "seconds": lambda value: value.seconds % 60,
}


def path(base: Any, name: str) -> Any:
    """`base.name`: a context entry, the same path on each item of a list, or a property of
    a date, time or duration; null otherwise."""
    if isinstance(base, dict):
        return base.get(name)
    if isinstance(base, (list, tuple)):
        return [path(item, name) for item in base]
    if isinstance(base, (dt.date, dt.timedelta)) and name in _TEMPORAL_PROPERTIES:
        try:
            return _TEMPORAL_PROPERTIES[name](base)
        except AttributeError:
            return None
    return None


def items(value: Any) -> list:
    """What a filter or an iteration walks: a list as it is, null as nothing, a value alone."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def iteration_range(start: Any, end: Any) -> Any:
    """`for x in 1..5`: the integers from start to end, counting down when end < start."""
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) \
            or isinstance(end, bool):
        raise SandboxError("a range in an iteration needs whole numbers at both ends")
    return sandbox._range(start, end + 1) if start <= end else sandbox._range(start, end - 1, -1)


def select(base: Any, results: list) -> Any:
    """`base[x]`: a number is a 1-based position (negative from the end), booleans filter."""
    values = items(base)
    if results and is_number(results[0]) and all(equal(result, results[0]) for result in results):
        return position(values, results[0])
    return [item for item, keep in zip(values, results, strict=True) if keep is True]


def position(values: Any, index: Any) -> Any:
    values = items(values)
    if not is_number(index) or _decimal(index) != _decimal(index).to_integral_value():
        return None
    index = sandbox._int(index)
    if index > 0 and index <= len(values):
        return values[index - 1]
    if index < 0 and -index <= len(values):
        return values[index]
    return None


HELPERS_BY_NAME: dict[str, Callable[..., Any]] = {
    "and": conjunction, "or": disjunction, "not": negation, "some": some, "every": every,
    "test_outcome": test_outcome,
    "true": is_true, "compare": compare, "between": between, "interval": interval,
    "in": in_tests, "arith": arithmetic, "neg": negate, "number": number,
    "var": variable, "member_or": member_or, "path": path, "items": items,
    "iteration_range": iteration_range, "select": select, "position": position,
}
sandbox.register_helper_module(__file__)

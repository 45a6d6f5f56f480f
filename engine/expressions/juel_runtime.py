"""What JUEL means at run time: the EL specification's coercions, `empty`, property and index
access on task data, and the Java methods Camunda 7 conditions call on strings, lists and maps.

Generated code calls these as `_sandbox_juel_*` globals. Every one is bounded: values are
measured (sandbox._bounded) before C code compares or prints them, and results that can grow
are length-checked, so the sandbox's limits hold here as they do for Python.
"""
from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from engine import sandbox
from engine.sandbox import SandboxError

_NUMBERS = (int, float, Decimal)
_JAVA_TYPES = {type(None): "null", bool: "Boolean", int: "Long", float: "Double",
               Decimal: "BigDecimal", str: "String", list: "List", tuple: "List", dict: "Map"}


def _type_name(value: Any) -> str:
    return _JAVA_TYPES.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------- coercions

def to_boolean(value: Any) -> bool:
    """EL coercion to Boolean: null and "" are false, text is true only when it says so."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() == "true"
    raise SandboxError(f"cannot coerce {_type_name(value)} to Boolean")


def to_number(value: Any) -> int | float | Decimal:
    """EL coercion to a number: null is 0, text is parsed."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise SandboxError("cannot coerce Boolean to a number")
    if isinstance(value, _NUMBERS):
        return value
    if isinstance(value, str):
        return _parse_number(value)
    raise SandboxError(f"cannot coerce {_type_name(value)} to a number")


def _parse_number(value: str) -> int | Decimal:
    text = value.strip()
    if len(text) > 100:
        raise SandboxError("cannot coerce a String of more than 100 characters to a number")
    if text.lstrip("+-").isdigit():
        return int(text)
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise SandboxError(f"cannot coerce {text[:60]!r} to a number")
    return number


def _whole(value: Any) -> int:
    """A number as a Java int/long argument (positions, lengths), size-checked."""
    return sandbox._int(to_number(value))


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(sandbox._bounded(value))


def _numbers(left: Any, right: Any) -> tuple[Any, Any]:
    """Both operands as numbers of one kind: Decimal when either is, else int or float."""
    left, right = to_number(left), to_number(right)
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        return _decimal(left), _decimal(right)
    return left, right


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBERS) and not isinstance(value, bool)


# --------------------------------------------------------------------------- operators

def equals(left: Any, right: Any) -> bool:
    """`==`/`eq` with the EL's coercions (numbers, then booleans, then text)."""
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) or _is_number(right):
        left, right = _numbers(left, right)
        return left == right
    if isinstance(left, bool) or isinstance(right, bool):
        return to_boolean(left) == to_boolean(right)
    if isinstance(left, str) or isinstance(right, str):
        return to_text(left) == to_text(right)
    return sandbox._bounded(left) == sandbox._bounded(right)


def not_equals(left: Any, right: Any) -> bool:
    return not equals(left, right)


def _ordering(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def ordered(left: Any, right: Any) -> bool:
        if left is None or right is None:
            return False
        if _is_number(left) or _is_number(right):
            left, right = _numbers(left, right)
        elif isinstance(left, str) or isinstance(right, str):
            left, right = to_text(left), to_text(right)
        elif type(left) is not type(right) or isinstance(left, (bool, list, tuple, dict)):
            raise SandboxError(f"cannot compare {_type_name(left)} with {_type_name(right)}")
        try:
            return compare(left, right)
        except TypeError:
            raise SandboxError(
                f"cannot compare {_type_name(left)} with {_type_name(right)}") from None
    return ordered


def empty(value: Any) -> bool:
    """`empty x`: null, "" and empty collections."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) == 0
    return False


def _divide(left: Any, right: Any) -> Any:
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        return _decimal(left) / _decimal(right)
    return left / right


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        return _decimal(left) % _decimal(right)
    return left % right


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": sandbox._HELPERS["_sandbox_add"], "-": operator.sub,
    "*": sandbox._HELPERS["_sandbox_mul"], "/": _divide, "div": _divide,
    "%": _modulo, "mod": _modulo,
}


def arithmetic(symbol: str, left: Any, right: Any) -> Any:
    """EL arithmetic: operands are numbers (null counts as 0, text is parsed); `+` never
    concatenates text, as in JUEL."""
    left, right = _numbers(left, right)
    try:
        return _ARITHMETIC[symbol](left, right)
    except ZeroDivisionError:
        raise SandboxError("division by zero") from None


def negate(value: Any) -> Any:
    return -to_number(value)


# ---------------------------------------------------------------------- data access

def variable(scope: Mapping[str, Any], name: str) -> Any:
    """An identifier: a task variable, or Camunda's error for an unknown one."""
    try:
        return scope[name]
    except KeyError:
        raise SandboxError(f"cannot resolve identifier '{name}'") from None


def get_variable(scope: Mapping[str, Any], name: Any) -> Any:
    """`execution.getVariable(name)`: null when the variable does not exist."""
    if not isinstance(name, str) or name.startswith("_"):
        return None
    return scope.get(name)


def prop(base: Any, name: Any) -> Any:
    """`base.name` and `base['name']` on a map; null on a null base or a missing key."""
    if base is None:
        return None
    if isinstance(base, dict):
        return base.get(name) if isinstance(name, str) else None
    if isinstance(base, (list, tuple, str)):
        return index(base, name)
    raise SandboxError(f"cannot read property {to_text(name)[:60]!r} of a {_type_name(base)}")


def index(base: Any, key: Any) -> Any:
    """`base[key]`: a list position (null when out of range) or a map key."""
    if base is None or key is None:
        return None
    if isinstance(base, dict):
        return base.get(to_text(key))
    if isinstance(base, (list, tuple, str)):
        position = to_number(key)
        if not isinstance(position, int):
            position = _whole(position) if position == _whole(position) else -1
        return base[position] if 0 <= position < len(base) else None
    raise SandboxError(f"cannot index a {_type_name(base)}")


# -------------------------------------------------------------------------- methods

def _substring(text: str, begin: Any, end: Any = None) -> str:
    begin = _whole(begin)
    end = len(text) if end is None else _whole(end)
    if not 0 <= begin <= end <= len(text):
        raise SandboxError(f"substring({begin}, {end}) is outside a String of length {len(text)}")
    return text[begin:end]


def _char_at(text: str, position: Any) -> str:
    position = _whole(position)
    if not 0 <= position < len(text):
        raise SandboxError(f"charAt({position}) is outside a String of length {len(text)}")
    return text[position]


def _concat(text: str, other: Any) -> str:
    other = to_text(other)
    sandbox._check_length(len(text) + len(other))
    return text + other


def _replace(text: str, old: Any, new: Any) -> str:
    old, new = to_text(old), to_text(new)
    count = text.count(old) if old else len(text) + 1
    sandbox._check_length(len(text) + count * (len(new) - len(old)))
    return text.replace(old, new)


def _compare_to(text: str, other: Any) -> int:
    other = to_text(other)
    return (text > other) - (text < other)


def _list_get(items: list, position: Any) -> Any:
    position = _whole(position)
    if not 0 <= position < len(items):
        raise SandboxError(f"get({position}) is outside a List of size {len(items)}")
    return items[position]


def _index_of(items: Any, value: Any) -> int:
    sandbox._bounded(items)
    sandbox._bounded(value)
    try:
        return items.index(value)
    except ValueError:
        return -1


_STRING_METHODS: dict[str, Callable[..., Any]] = {
    "length": len,
    "isEmpty": lambda text: len(text) == 0,
    "isBlank": lambda text: not text.strip(),
    "equals": lambda text, other: isinstance(other, str) and text == other,
    "equalsIgnoreCase": lambda text, other: isinstance(other, str)
    and text.lower() == other.lower(),
    "contains": lambda text, part: to_text(part) in text,
    "startsWith": lambda text, part: text.startswith(to_text(part)),
    "endsWith": lambda text, part: text.endswith(to_text(part)),
    "indexOf": lambda text, part: text.find(to_text(part)),
    "lastIndexOf": lambda text, part: text.rfind(to_text(part)),
    "substring": _substring,
    "charAt": _char_at,
    "toUpperCase": str.upper,
    "toLowerCase": str.lower,
    "trim": str.strip,
    "concat": _concat,
    "replace": _replace,
    "compareTo": _compare_to,
    "toString": lambda text: text,
}
_LIST_METHODS: dict[str, Callable[..., Any]] = {
    "size": len,
    "isEmpty": lambda items: len(items) == 0,
    "contains": lambda items, value: _index_of(items, value) >= 0,
    "indexOf": _index_of,
    "get": _list_get,
}
_MAP_METHODS: dict[str, Callable[..., Any]] = {
    "size": len,
    "isEmpty": lambda mapping: len(mapping) == 0,
    "containsKey": lambda mapping, key: isinstance(key, str) and key in mapping,
    "get": lambda mapping, key: mapping.get(key) if isinstance(key, str) else None,
    # Camunda Spin's JSON navigation, as in `customer.prop("age").numberValue()`
    "prop": lambda mapping, key: mapping.get(key) if isinstance(key, str) else None,
}
_ANY_METHODS: dict[str, Callable[..., Any]] = {
    "toString": to_text,
    "equals": equals,
    "numberValue": to_number,
    "stringValue": to_text,
    "boolValue": to_boolean,
    "intValue": _whole,
    "longValue": _whole,
    "doubleValue": lambda value: float(to_number(value)),
}

METHOD_NAMES = frozenset({*_STRING_METHODS, *_LIST_METHODS, *_MAP_METHODS, *_ANY_METHODS})


def method(base: Any, name: str, *args: Any) -> Any:
    """`base.name(args)` for the supported methods of the value's Java type."""
    if base is None:
        raise SandboxError(f"cannot call {name}() on null")
    if isinstance(base, str):
        table = _STRING_METHODS
    elif isinstance(base, (list, tuple)):
        table = _LIST_METHODS
    elif isinstance(base, dict):
        table = _MAP_METHODS
    else:
        table = {}
    function = table.get(name) or _ANY_METHODS.get(name)
    if function is None:
        raise SandboxError(f"{_type_name(base)} has no method {name}()")
    try:
        return function(base, *args)
    except TypeError:
        raise SandboxError(f"wrong number of arguments for {name}()") from None


def spin(value: Any) -> Any:
    """Camunda Spin's `S(json)`: JSON text is parsed, data is taken as it is; the map
    methods above (`prop`, `numberValue`, `stringValue`...) then navigate it."""
    if not isinstance(value, str):
        return value
    sandbox._check_length(len(value))
    try:
        return json.loads(value, parse_constant=lambda name: None)
    except (ValueError, RecursionError) as err:
        raise SandboxError(f"S(): not JSON: {str(err)[:200]}") from None


HELPERS: dict[str, Any] = {
    f"{sandbox.GENERATED_PREFIX}juel_{name}": function for name, function in {
        "bool": to_boolean, "eq": equals, "ne": not_equals,
        "lt": _ordering(operator.lt), "le": _ordering(operator.le),
        "gt": _ordering(operator.gt), "ge": _ordering(operator.ge),
        "empty": empty, "arith": arithmetic, "neg": negate,
        "var": variable, "get_variable": get_variable, "prop": prop, "index": index,
        "method": method, "spin": spin,
    }.items()
}
sandbox.register_helper_module(__file__)

"""What translated Groovy scripts (engine.expressions.groovy) call at run time: Groovy's
truth, equality, arithmetic, property access, ranges and the methods of the subset on text,
lists and maps. Camunda's execution API and Spin's S() are javascript_runtime's, reused:
their semantics do not depend on the script language.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from engine import sandbox
from engine.sandbox import SandboxError

from . import javascript_runtime
from .javascript_runtime import SpinJson

_NUMBERS = (int, float, Decimal)


def truthy(value: Any) -> bool:
    """Groovy truth: null, false, 0, empty text, empty list and empty map are false."""
    if value is None or value is javascript_runtime.UNDEFINED:
        return False
    if isinstance(value, SpinJson):
        return True
    if isinstance(value, (bool, int, float, Decimal, str, list, dict)):
        return bool(value)
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBERS) and not isinstance(value, bool)


def to_string(value: Any) -> str:
    """toString() as Groovy prints values: null, true, [1, 2], [a:1]."""
    if value is None or value is javascript_runtime.UNDEFINED:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(to_string(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "[:]"
        return "[" + ", ".join(f"{key}:{to_string(item)}" for key, item in value.items()) + "]"
    if isinstance(value, SpinJson):
        return value.to_text()
    return str(value)


def interpolate(*parts: Any) -> str:
    """A GString's text: the literal parts and the values of its ${...} in order."""
    text = "".join(to_string(part) for part in parts)
    sandbox._check_length(len(text))
    return text


def _numbers(left: Any, right: Any) -> tuple[Any, Any]:
    if not (_is_number(left) and _is_number(right)):
        raise SandboxError(f"cannot compute with {to_string(left)!r} and {to_string(right)!r}")
    if isinstance(left, float) or isinstance(right, float):
        return float(left), float(right)
    if isinstance(left, Decimal) or isinstance(right, Decimal):
        return Decimal(left), Decimal(right)
    return left, right


def add(left: Any, right: Any) -> Any:
    """`+`: text joins (either side text), lists concatenate or take an item, maps merge."""
    if isinstance(left, str):
        return interpolate(left, right)
    if isinstance(left, list):
        sandbox._check_length(len(left) + (len(right) if isinstance(right, list) else 1))
        return left + right if isinstance(right, list) else left + [right]
    if isinstance(left, dict) and isinstance(right, dict):
        return {**left, **right}
    if isinstance(right, str) and left is not None:
        return interpolate(left, right)
    return arith("+", left, right)


def arith(op: str, left: Any, right: Any) -> Any:
    """`-`, `*`, `/`, `%`, `**` on numbers (Groovy: integer / integer is exact, a decimal);
    `text * n` repeats, `list - list` removes."""
    if op == "-" and isinstance(left, list):
        removed = right if isinstance(right, list) else [right]
        return [item for item in left if not any(equal(item, gone) for gone in removed)]
    if op == "*" and isinstance(left, (str, list)) and _is_number(right):
        sandbox._check_length(len(left) * max(int(right), 0))
        return left * int(right)
    if op == "+":
        left, right = _numbers(left, right)
        return left + right
    left, right = _numbers(left, right)
    try:
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            if isinstance(left, int) and isinstance(right, int):
                quotient = Decimal(left) / Decimal(right)
                return int(quotient) if quotient == quotient.to_integral_value() else quotient
            return left / right
        if op == "%":
            return left % right
        if op == "**":
            if isinstance(right, int) and abs(right) > 10_000 or _is_number(left) and \
                    abs(left) > 10**100:
                raise SandboxError("number is too large")
            return left ** right
    except (ZeroDivisionError, InvalidOperation):
        raise SandboxError("java.lang.ArithmeticException: Division by zero") from None
    except OverflowError:
        raise SandboxError("number is too large") from None
    raise SandboxError(f"operator {op} is not supported")


def negate(value: Any) -> Any:
    if not _is_number(value):
        raise SandboxError(f"cannot negate {to_string(value)!r}")
    return -value


def equal(left: Any, right: Any) -> bool:
    """`==`: equals(), with numbers equal across int and decimal and null equal to null only."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, SpinJson) or isinstance(right, SpinJson):
        return left is right
    if _is_number(left) and _is_number(right):
        return compare(left, right) == 0
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(equal(a, b) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(equal(left[key], right[key]) for key in left)
    return left == right


def compare(left: Any, right: Any) -> int:
    """`<=>`: -1, 0 or 1; null sorts first; numbers with numbers, text with text."""
    if left is None or right is None:
        return 0 if left is right else -1 if left is None else 1
    if _is_number(left) and _is_number(right):
        a, b = _numbers(left, right)
        return (a > b) - (a < b)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    raise SandboxError(f"cannot compare {to_string(left)!r} with {to_string(right)!r}")


def less(op: str, left: Any, right: Any) -> bool:
    order = compare(left, right)
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]


def contains(item: Any, container: Any) -> bool:
    """`item in container`: a list's item, a map's key, a text's part."""
    if isinstance(container, list):
        return any(equal(item, candidate) for candidate in container)
    if isinstance(container, dict):
        return to_string(item) in container
    if isinstance(container, str):
        return to_string(item) in container
    if container is None:
        return False
    raise SandboxError(f"'in' needs a list, a map or a text, not {to_string(container)!r}")


def make_range(start: Any, end: Any, exclusive: bool) -> list:
    """`1..3` and `1..<3` as the list of their numbers (descending when start > end)."""
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) \
            or isinstance(end, bool):
        raise SandboxError("a range goes from a whole number to a whole number")
    step = 1 if end >= start else -1
    stop = end if exclusive else end + step
    sandbox._check_length(abs(stop - start))
    return list(range(start, stop, step))


def get_name(env: dict, data: Mapping, extra: Mapping, name: str) -> Any:
    """A variable: the script's own, else a process variable (Camunda binds them), else a
    name DutyFlow provides; MissingPropertyException when none has it."""
    for scope in (env, data, extra):
        if name in scope:
            return scope[name]
    raise SandboxError(f"groovy.lang.MissingPropertyException: No such property: {name}")


def member(base: Any, key: Any, safe: bool) -> Any:
    """`base.key` (and `base?.key`): a map's entry (null when missing)."""
    if base is None:
        if safe:
            return None
        raise SandboxError(f"java.lang.NullPointerException: Cannot get property "
                           f"'{to_string(key)}' on null object")
    if isinstance(base, dict):
        return base.get(to_string(key))
    if isinstance(base, list):  # Groovy spreads a property over a list's items
        return [member(item, key, safe) for item in base]
    raise SandboxError(f"groovy.lang.MissingPropertyException: No such property: "
                       f"{to_string(key)}")


def index(base: Any, key: Any) -> Any:
    """`base[key]`: a map's entry, a list's item or a text's character (negative counts
    from the end); null when missing."""
    if base is None:
        raise SandboxError("java.lang.NullPointerException: Cannot get an item of null")
    if isinstance(base, dict):
        return base.get(to_string(key))
    if isinstance(base, (list, str)) and isinstance(key, int) and not isinstance(key, bool):
        if -len(base) <= key < len(base):
            return base[key]
        if isinstance(base, str):
            raise SandboxError(f"java.lang.StringIndexOutOfBoundsException: index {key}")
        return None
    raise SandboxError(f"cannot index {to_string(base)!r} with {to_string(key)!r}")


def set_member(base: Any, key: Any, value: Any) -> None:
    """`base.key = value`, `base[key] = value`: on maps and lists."""
    if isinstance(base, dict):
        sandbox._check_length(len(base) + 1)
        base[to_string(key)] = value
        return
    if isinstance(base, list) and isinstance(key, int) and not isinstance(key, bool):
        if key < 0:
            if key < -len(base):
                raise SandboxError(f"index {key} is out of range")
            key += len(base)
        sandbox._check_length(key + 1)
        base.extend([None] * (key + 1 - len(base)))
        base[key] = value
        return
    raise SandboxError(f"cannot set {to_string(key)!r} on {to_string(base)!r}")


def iterate(value: Any) -> list:
    """What `for (x in value)` and each/collect visit: a list's items, a text's characters,
    a map's entries (as [key: k, value: v]), nothing for null, any other value once."""
    if isinstance(value, SpinJson):
        return value.elements()
    if isinstance(value, (list, str)):
        return list(value)
    if isinstance(value, dict):
        return [{"key": key, "value": item} for key, item in value.items()]
    if value is None:
        return []
    return [value]


def pairs(value: Any) -> list[tuple[Any, Any]]:
    """What a two-parameter closure over a map visits: its keys and values."""
    if isinstance(value, dict):
        return list(value.items())
    raise SandboxError("a closure with two parameters (key, value) needs a map; use "
                       "eachWithIndex for a list's items and indices")


def total(values: list) -> Any:
    """sum(): numbers added (text joined), null for an empty list."""
    result = None
    for value in values:
        result = value if result is None else add(result, value)
    return result


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise SandboxError(f"cannot convert {to_string(value)!r} to Integer")
    if _is_number(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise SandboxError(f"java.lang.NumberFormatException: For input string: "
                               f"\"{value}\"") from None
    raise SandboxError(f"cannot convert {to_string(value)!r} to Integer")


def _decimal(value: Any) -> Decimal:
    if _is_number(value):
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise SandboxError(f"java.lang.NumberFormatException: \"{value}\"") from None
    raise SandboxError(f"cannot convert {to_string(value)!r} to a number")


def _double(value: Any) -> float:
    return float(_decimal(value))


_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "Integer": _integer, "int": _integer, "Long": _integer, "long": _integer,
    "BigInteger": _integer, "Short": _integer,
    "BigDecimal": _decimal, "Double": _double, "double": _double, "Float": _double,
    "Number": _decimal,
    "String": to_string, "Boolean": truthy, "boolean": truthy,
    "List": lambda value: iterate(value) if not isinstance(value, list) else value,
}
TYPE_NAMES = frozenset(_CONVERSIONS)


def as_type(value: Any, name: str) -> Any:
    """`value as Integer` and the other conversions of the subset; null stays null."""
    if value is None:
        return None
    return _CONVERSIONS[name](value)


def _split(text: str, separator: Any = None) -> list:
    if separator is None:
        return text.split()
    return [part for part in text.split(to_string(separator))] if separator != "" \
        else list(text)


def _substring(text: str, start: Any, end: Any = None) -> str:
    stop = len(text) if end is None else end
    if not (0 <= start <= stop <= len(text)):
        raise SandboxError(f"java.lang.StringIndexOutOfBoundsException: begin {start}, "
                           f"end {stop}, length {len(text)}")
    return text[start:stop]


def _join(items: list, separator: Any = "") -> str:
    text = to_string(separator).join(to_string(item) for item in items)
    sandbox._check_length(len(text))
    return text


def _first(items: list) -> Any:
    if not items:
        raise SandboxError("java.util.NoSuchElementException: Cannot access first() "
                           "element from an empty List")
    return items[0]


def _last(items: list) -> Any:
    if not items:
        raise SandboxError("java.util.NoSuchElementException: Cannot access last() "
                           "element from an empty List")
    return items[-1]


def _sorted(items: list) -> list:
    import functools
    return sorted(items, key=functools.cmp_to_key(compare))


def _extreme(items: list, sign: int) -> Any:
    best = None
    for item in items:
        if best is None or compare(item, best) * sign > 0:
            best = item
    return best


_COMMON: dict[str, Callable[..., Any]] = {
    "toString": to_string, "equals": equal, "compareTo": compare,
}
_TEXT: dict[str, Callable[..., Any]] = {
    "size": len, "length": len, "isEmpty": lambda text: not text,
    "contains": lambda text, part: to_string(part) in text,
    "toUpperCase": str.upper, "toLowerCase": str.lower, "trim": str.strip,
    "startsWith": lambda text, prefix: text.startswith(to_string(prefix)),
    "endsWith": lambda text, suffix: text.endswith(to_string(suffix)),
    "split": _split, "tokenize": _split, "substring": _substring,
    "replace": lambda text, old, new: interpolate(text.replace(to_string(old), to_string(new))),
    "indexOf": lambda text, part: text.find(to_string(part)),
    "toInteger": _integer, "toLong": _integer, "toBigDecimal": _decimal,
    "toDouble": _double, "isNumber": lambda text: _is_numeric(text),
    "isInteger": lambda text: text.strip().lstrip("+-").isdigit(),
    "capitalize": lambda text: text[:1].upper() + text[1:],
    "reverse": lambda text: text[::-1], "equalsIgnoreCase":
        lambda text, other: isinstance(other, str) and text.lower() == other.lower(),
    "padLeft": lambda text, width, fill=" ": text.rjust(min(int(width), 100_000), to_string(fill)[:1] or " "),
    "padRight": lambda text, width, fill=" ": text.ljust(min(int(width), 100_000), to_string(fill)[:1] or " "),
}
_LIST: dict[str, Callable[..., Any]] = {
    "size": len, "isEmpty": lambda items: not items,
    "contains": lambda items, item: contains(item, items), "join": _join,
    "add": lambda items, item: (sandbox._check_length(len(items) + 1), items.append(item),
                                True)[2],
    "get": index, "getAt": index, "first": _first, "last": _last,
    "indexOf": lambda items, item: next((number for number, candidate in enumerate(items)
                                         if equal(candidate, item)), -1),
    "reverse": lambda items: items[::-1], "sort": _sorted, "unique":
        lambda items: [item for number, item in enumerate(items)
                       if not any(equal(item, seen) for seen in items[:number])],
    "sum": total, "max": lambda items: _extreme(items, 1),
    "min": lambda items: _extreme(items, -1), "toList": list,
    "plus": add, "minus": lambda items, other: arith("-", items, other),
}
_MAP: dict[str, Callable[..., Any]] = {
    "size": len, "isEmpty": lambda mapping: not mapping,
    "containsKey": lambda mapping, key: to_string(key) in mapping,
    "containsValue": lambda mapping, value: any(equal(value, item)
                                                for item in mapping.values()),
    "get": index, "getAt": index,
    "put": lambda mapping, key, value: (mapping.get(to_string(key)),
                                        set_member(mapping, key, value))[0],
    "keySet": list, "values": lambda mapping: list(mapping.values()),
    "remove": lambda mapping, key: mapping.pop(to_string(key), None),
}
_NUMBER: dict[str, Callable[..., Any]] = {
    "toInteger": _integer, "intValue": _integer, "toLong": _integer, "longValue": _integer,
    "toBigDecimal": _decimal, "toDouble": _double, "doubleValue": _double,
    "abs": abs, "round": lambda number: int(Decimal(str(number)).to_integral_value(
        "ROUND_HALF_UP")),
}


def _is_numeric(text: str) -> bool:
    try:
        Decimal(text.strip())
        return True
    except InvalidOperation:
        return False


METHOD_NAMES = frozenset({*_COMMON, *_TEXT, *_LIST, *_MAP, *_NUMBER,
                          *javascript_runtime.METHOD_NAMES} - {"map", "filter", "forEach",
                                                               "some", "findIndex"})
# Methods whose closure argument groovy.py translates into a loop or a comprehension.
CLOSURE_METHODS = frozenset({"each", "eachWithIndex", "collect", "findAll", "find", "any",
                             "every", "sum", "count"})


def call_method(base: Any, name: str, *args: Any) -> Any:
    """`base.name(args)`: the method of that name for the value's type."""
    if isinstance(base, SpinJson) or javascript_runtime.TypedValue is type(base):
        return javascript_runtime.call_method(base, name, *args)
    if base is None:
        if name in ("toString",):
            return "null"
        raise SandboxError(f"java.lang.NullPointerException: Cannot invoke method {name}() "
                           "on null object")
    if isinstance(base, str):
        table: Mapping[str, Callable[..., Any]] = _TEXT
    elif isinstance(base, list):
        table = _LIST
    elif isinstance(base, dict):
        table = _MAP
    elif _is_number(base):
        table = _NUMBER
    else:
        table = {}
    method = table.get(name) or _COMMON.get(name)
    if method is None:
        raise SandboxError(f"groovy.lang.MissingMethodException: No signature of method "
                           f"{name}() for {to_string(base)!r}")
    for arg in args:
        sandbox._bounded(arg)
    try:
        return method(base, *args)
    except TypeError:
        raise SandboxError(f"wrong arguments for {name}()") from None


def safe_call(base: Any, name: str, *args: Any) -> Any:
    """`base?.name(args)`: null on a null base."""
    return None if base is None else call_method(base, name, *args)


def to_plain(value: Any) -> Any:
    return javascript_runtime.to_plain(value)


HELPERS: dict[str, Any] = {
    f"_sandbox_gv_{name}": function for name, function in {
        "truthy": truthy, "add": add, "arith": arith, "neg": negate, "eq": equal,
        "cmp": compare, "less": less, "in": contains, "range": make_range,
        "get_name": get_name, "member": member, "index": index, "set_member": set_member,
        "iterate": iterate, "pairs": pairs, "sum": total, "as": as_type, "call_method": call_method,
        "safe_call": safe_call, "interpolate": interpolate, "to_string": to_string,
        "first": lambda found, missing: next(found, missing),
        "print": lambda *args: None, "decimal": lambda text: Decimal(text),
    }.items()}

sandbox.register_helper_module(__file__)

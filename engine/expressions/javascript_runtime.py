"""What JavaScript means at run time: ECMAScript's truthiness, `+`, equality and
conversions, the string, array, Math and JSON functions Camunda 7 scripts call, Camunda's
`execution` API over the task data, and Spin's `S(json)`.

Generated code calls these as `_sandbox_js_*` globals (engine.expressions.javascript). No
designer-written name ever becomes a Python attribute: properties are dict keys or the few
JavaScript properties listed here, methods are dispatched by name from fixed tables. Every
result that can grow is length-checked and values are measured before C code compares or
serializes them, so the sandbox's limits hold here as they do for Python.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from engine import sandbox
from engine.sandbox import SandboxError


class _Undefined:
    """JavaScript's `undefined`: what a missing property or variable reads as. It never
    leaves a script: stored, returned or serialized it becomes null."""

    _instance = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __deepcopy__(self, memo: Any) -> _Undefined:
        return self


UNDEFINED = _Undefined()
_NUMBERS = (int, float, Decimal)


# ---------------------------------------------------------------------------- conversions

def truthy(value: Any) -> bool:
    """ToBoolean: false, 0, NaN, "", null and undefined are false; objects and arrays true."""
    if value is None or value is UNDEFINED:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, _NUMBERS):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Any) -> int | float:
    """ToNumber; Decimals (DutyFlow's exact numbers) become floats, as JavaScript has no other."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 \
            else float(value)
    if value is None:
        return 0
    if isinstance(value, str):
        return _parse_number(value.strip())
    if isinstance(value, list) and len(value) <= 1:
        return to_number(value[0]) if value else 0
    return math.nan


def _parse_number(text: str) -> int | float:
    if text == "":
        return 0
    if len(text) > 400:
        return math.nan
    try:
        if text.lower().startswith(("0x", "+0x", "-0x")):
            return int(text, 16)
        number = float(text)
    except ValueError:
        return math.nan
    if text.lower() in ("inf", "+inf", "-inf", "infinity", "nan", "+nan", "-nan"):
        return math.nan if "n" in text.lower().replace("infinity", "") else number
    return _integral(number)


def _integral(number: int | float) -> int | float:
    """A float that is a whole number within double precision as an int, so that counts
    and amounts stay integers in task data (JavaScript does not tell them apart)."""
    if isinstance(number, int):
        return number
    if number == number and not math.isinf(number) and number.is_integer() \
            and abs(number) < 2**53:
        return int(number)
    return number


def to_string(value: Any) -> str:
    """ToString, as String(value) gives it."""
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        sandbox._check_int_bits(value.bit_length())
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        whole = _integral(value)
        return str(whole) if isinstance(whole, int) else repr(value)
    if isinstance(value, Decimal):
        return to_string(to_number(value))
    if isinstance(value, (list, tuple)):
        sandbox._bounded(value)
        return ",".join("" if item is None or item is UNDEFINED else to_string(item)
                        for item in value)
    if isinstance(value, SpinJson):
        return value.to_text()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return "[object Object]"


def to_plain(value: Any) -> Any:
    """A value as task data: undefined becomes null, Spin nodes their JSON data."""
    if value is UNDEFINED:
        return None
    if isinstance(value, SpinJson):
        return to_plain(value.data)
    if isinstance(value, TypedValue):
        return to_plain(value.value)
    if isinstance(value, float) and (value != value or math.isinf(value)):
        return None
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    return value


def typeof(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMBERS):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


# ---------------------------------------------------------------------------- operators

def add(left: Any, right: Any) -> Any:
    """`+`: text when either side is text (or an object), else numbers."""
    if isinstance(left, (str, list, dict, SpinJson)) or isinstance(right, (str, list, dict,
                                                                           SpinJson)):
        left_text, right_text = to_string(left), to_string(right)
        sandbox._check_length(len(left_text) + len(right_text))
        return left_text + right_text
    return arith("+", left, right)


def arith(op: str, left: Any, right: Any) -> int | float:
    a, b = to_number(left), to_number(right)
    if isinstance(a, int) and isinstance(b, int):
        if op == "+":
            return _checked(a + b)
        if op == "-":
            return _checked(a - b)
        if op == "*":
            sandbox._check_int_bits(a.bit_length() + b.bit_length())
            return _checked(a * b)
        if op == "%":
            if b == 0:
                return math.nan
            return int(math.fmod(a, b)) if abs(a) < 2**53 and abs(b) < 2**53 \
                else _checked(a - b * int(a / b))
    a, b = float(a), float(b)
    if op == "+":
        return _integral(a + b)
    if op == "-":
        return _integral(a - b)
    if op == "*":
        return _integral(a * b)
    if op == "/":
        if b == 0:
            return math.nan if a == 0 or a != a else math.copysign(math.inf, a) * \
                math.copysign(1, b)
        return _integral(a / b)
    if op == "%":
        return math.nan if b == 0 or math.isinf(a) else _integral(math.fmod(a, b))
    raise SandboxError(f"operator {op} is not supported")


def _checked(number: int) -> int:
    sandbox._check_int_bits(number.bit_length())
    return number


def negate(value: Any) -> int | float:
    number = to_number(value)
    return -number if number != 0 else (-0.0 if isinstance(number, float) else 0)


def strict_equal(left: Any, right: Any) -> bool:
    """`===`: same type and value; objects and arrays only when they are the same one."""
    if isinstance(left, (list, dict, SpinJson)) or isinstance(right, (list, dict, SpinJson)):
        return left is right
    if left is None or left is UNDEFINED or right is None or right is UNDEFINED:
        return left is right
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, _NUMBERS) and isinstance(right, _NUMBERS):
        return to_number(left) == to_number(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return type(left) is type(right) and sandbox._bounded(left) == sandbox._bounded(right)


def loose_equal(left: Any, right: Any) -> bool:
    """`==`: null and undefined equal each other only; numbers, text and booleans compare
    as numbers when their types differ; objects by identity, or by their text against text."""
    nullish_left = left is None or left is UNDEFINED
    nullish_right = right is None or right is UNDEFINED
    if nullish_left or nullish_right:
        return nullish_left and nullish_right
    if type(left) is type(right) or (isinstance(left, _NUMBERS) and isinstance(right, _NUMBERS)
                                     and not isinstance(left, bool)
                                     and not isinstance(right, bool)):
        return strict_equal(left, right)
    objects = (list, dict, SpinJson)
    if isinstance(left, objects) and isinstance(right, objects):
        return left is right
    if isinstance(left, objects):
        left = to_string(left)
    if isinstance(right, objects):
        right = to_string(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return to_number(left) == to_number(right)


def less(op: str, left: Any, right: Any) -> bool:
    """`<`, `<=`, `>`, `>=`: text against text by characters, else as numbers (NaN: false)."""
    if isinstance(left, str) and isinstance(right, str):
        a: Any = left
        b: Any = right
    else:
        a, b = to_number(left), to_number(right)
        if a != a or b != b:
            return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def has_key(key: Any, container: Any) -> bool:
    """`key in object`."""
    if isinstance(container, dict):
        return to_string(key) in container
    if isinstance(container, list):
        index = to_number(key)
        return isinstance(index, int) and 0 <= index < len(container)
    raise SandboxError("TypeError: 'in' needs an object on its right")


# ---------------------------------------------------------------------------- data access

def get_name(env: dict, data: Mapping, extra: Mapping, name: str) -> Any:
    """A variable: the script's own, else a process variable (Camunda binds them), else
    a name DutyFlow provides; ReferenceError when none has it."""
    if name in env:
        return env[name]
    if name in data:
        return data[name]
    if name in extra:
        return extra[name]
    if name in _GLOBAL_VALUES:
        return _GLOBAL_VALUES[name]
    raise SandboxError(f"ReferenceError: {name} is not defined")


def typeof_name(env: dict, data: Mapping, extra: Mapping, name: str) -> str:
    """`typeof x` of a name that may not exist, which is JavaScript's way to test for it."""
    for scope in (env, data, extra, _GLOBAL_VALUES):
        if name in scope:
            return typeof(scope[name])
    return "undefined"


def member(base: Any, key: Any) -> Any:
    """`base.key` and `base[key]`: map entries, array items and `length`; missing is undefined."""
    if base is None or base is UNDEFINED:
        raise SandboxError(f"TypeError: cannot read property '{to_string(key)}' of "
                           f"{to_string(base)}")
    if isinstance(base, dict):
        return base.get(to_string(key), UNDEFINED)
    if isinstance(base, (list, str)):
        if key == "length":
            return len(base)
        index = key if isinstance(key, int) and not isinstance(key, bool) else \
            to_number(key) if isinstance(key, (str, float)) else None
        if isinstance(index, int) and 0 <= index < len(base):
            return base[index]
        return UNDEFINED
    if isinstance(base, SpinJson):
        return UNDEFINED
    return UNDEFINED


def set_member(base: Any, key: Any, value: Any) -> None:
    """`base.key = value`, `base[i] = value`: on objects and arrays only."""
    if isinstance(base, dict):
        text = to_string(key)
        sandbox._check_length(len(base) + 1)
        base[text] = value
        return
    if isinstance(base, list):
        index = to_number(key)
        if not isinstance(index, int) or index < 0:
            raise SandboxError(f"array index {to_string(key)!r} is not supported")
        sandbox._check_length(index + 1)
        if index >= len(base):
            base.extend([UNDEFINED] * (index + 1 - len(base)))
        base[index] = value
        return
    raise SandboxError(f"TypeError: cannot set property '{to_string(key)}' of "
                       f"{to_string(base) if base is None or base is UNDEFINED else typeof(base)}")


def iterate_of(value: Any) -> list:
    """What `for (x of value)` visits: an array's items (a copy), a string's characters."""
    if isinstance(value, SpinJson):
        value = value.elements()
    if isinstance(value, (list, str)):
        return list(value)
    raise SandboxError(f"TypeError: {typeof(value)} is not iterable")


def iterate_in(value: Any) -> list:
    """What `for (k in value)` visits: an object's keys, an array's indices as text."""
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, (list, str)):
        return [str(index) for index in range(len(value))]
    return []


# ---------------------------------------------------------------------------- methods

def _index_of(base: Any, needle: Any, start: Any = 0) -> int:
    if isinstance(base, str):
        return base.find(to_string(needle), max(0, int(to_number(start) or 0)))
    for index in range(max(0, int(to_number(start) or 0)), len(base)):
        if strict_equal(base[index], needle):
            return index
    return -1


def _slice_bounds(length: int, start: Any, end: Any) -> tuple[int, int]:
    def bound(value: Any, default: int) -> int:
        if value is UNDEFINED:
            return default
        number = to_number(value)
        if number != number:
            return 0
        number = int(number) if not math.isinf(number) else (length if number > 0 else -length)
        return max(0, length + number) if number < 0 else min(number, length)
    return bound(start, 0), bound(end, length)


def _substring(text: str, start: Any = UNDEFINED, end: Any = UNDEFINED) -> str:
    def clamp(value: Any, default: int) -> int:
        if value is UNDEFINED:
            return default
        number = to_number(value)
        return 0 if number != number else int(min(max(number, 0), len(text)))
    a, b = clamp(start, 0), clamp(end, len(text))
    return text[min(a, b):max(a, b)]


def _slice(base: Any, start: Any = UNDEFINED, end: Any = UNDEFINED) -> Any:
    a, b = _slice_bounds(len(base), start, end)
    return base[a:b]


def _split(text: str, separator: Any = UNDEFINED, limit: Any = UNDEFINED) -> list:
    if separator is UNDEFINED:
        parts = [text]
    elif to_string(separator) == "":
        parts = list(text)
    else:
        parts = text.split(to_string(separator))
    if limit is not UNDEFINED:
        parts = parts[:max(0, int(to_number(limit)))]
    return parts


def _replace(text: str, pattern: Any, replacement: Any) -> str:
    needle, new = to_string(pattern), to_string(replacement)
    sandbox._check_length(len(text) + len(new))
    return text.replace(needle, new, 1)


def _join(items: list, separator: Any = UNDEFINED) -> str:
    glue = "," if separator is UNDEFINED else to_string(separator)
    texts = ["" if item is None or item is UNDEFINED else to_string(item) for item in items]
    sandbox._check_length(sum(map(len, texts)) + len(glue) * max(len(texts) - 1, 0))
    return glue.join(texts)


def _push(items: list, *values: Any) -> int:
    sandbox._check_length(len(items) + len(values))
    items.extend(values)
    return len(items)


def _concat(base: Any, *others: Any) -> Any:
    if isinstance(base, str):
        text = base
        for other in others:
            text = add(text, to_string(other))
        return text
    result = list(base)
    for other in others:
        extra = other if isinstance(other, list) else [other]
        sandbox._check_length(len(result) + len(extra))
        result.extend(extra)
    return result


def _pad(text: str, length: Any, fill: Any = UNDEFINED, start: bool = True) -> str:
    width = int(to_number(length))
    sandbox._check_length(width)
    filler = " " if fill is UNDEFINED else to_string(fill)
    if width <= len(text) or not filler:
        return text
    padding = (filler * (width // len(filler) + 1))[:width - len(text)]
    return padding + text if start else text + padding


_STRING_METHODS: dict[str, Callable[..., Any]] = {
    "indexOf": _index_of,
    "lastIndexOf": lambda text, needle: text.rfind(to_string(needle)),
    "substring": _substring,
    "substr": lambda text, start=0, length=UNDEFINED: _slice(
        text, start, UNDEFINED if length is UNDEFINED else
        (len(text) + to_number(start) if to_number(start) < 0 else to_number(start))
        + max(0, to_number(length))),
    "slice": _slice,
    "toUpperCase": str.upper,
    "toLowerCase": str.lower,
    "trim": str.strip,
    "trimStart": str.lstrip,
    "trimEnd": str.rstrip,
    "split": _split,
    "replace": _replace,
    "startsWith": lambda text, prefix: text.startswith(to_string(prefix)),
    "endsWith": lambda text, suffix: text.endswith(to_string(suffix)),
    "includes": lambda text, needle: to_string(needle) in text,
    "charAt": lambda text, index=0: _substring(text, index, to_number(index) + 1)
    if 0 <= to_number(index) < len(text) else "",
    "concat": _concat,
    "padStart": lambda text, length, fill=UNDEFINED: _pad(text, length, fill, True),
    "padEnd": lambda text, length, fill=UNDEFINED: _pad(text, length, fill, False),
    "toString": lambda text: text,
    "equals": lambda text, other: text == other,
}
_ARRAY_METHODS: dict[str, Callable[..., Any]] = {
    "push": _push,
    "pop": lambda items: items.pop() if items else UNDEFINED,
    "shift": lambda items: items.pop(0) if items else UNDEFINED,
    "indexOf": _index_of,
    "includes": lambda items, needle: _index_of(items, needle) >= 0,
    "join": _join,
    "slice": _slice,
    "concat": _concat,
    "reverse": lambda items: (items.reverse(), items)[1],
    "toString": lambda items: to_string(items),
}
_OBJECT_METHODS: dict[str, Callable[..., Any]] = {
    "hasOwnProperty": lambda mapping, key: to_string(key) in mapping,
    "toString": lambda mapping: "[object Object]",
}
_ANY_METHODS: dict[str, Callable[..., Any]] = {
    "toString": to_string,
}
# Array methods taking a function are translated into loops (javascript.py), not called.
CALLBACK_METHODS = frozenset({"map", "filter", "forEach", "some", "every", "find",
                              "findIndex"})


def call_method(base: Any, name: str, *args: Any) -> Any:
    """`base.name(args)`: the JavaScript method of that name for the value's type."""
    if isinstance(base, SpinJson):
        table: Mapping[str, Callable[..., Any]] = _SPIN_METHODS
    elif isinstance(base, str):
        table = _STRING_METHODS
    elif isinstance(base, list):
        table = _ARRAY_METHODS
    elif isinstance(base, dict):
        table = _OBJECT_METHODS
    elif base is None or base is UNDEFINED:
        raise SandboxError(f"TypeError: cannot call method '{name}' of {to_string(base)}")
    else:
        table = _ANY_METHODS
    method = table.get(name)
    if method is None:
        raise SandboxError(f"TypeError: {typeof(base)} has no method '{name}'")
    for arg in args:
        sandbox._bounded(arg)
    try:
        return method(base, *args)
    except TypeError:
        raise SandboxError(f"TypeError: wrong arguments for {name}()") from None


METHOD_NAMES = frozenset({*_STRING_METHODS, *_ARRAY_METHODS, *_OBJECT_METHODS,
                          *CALLBACK_METHODS, "prop", "stringValue", "numberValue", "boolValue",
                          "elements", "hasProp", "isNull", "value", "getValue",
                          "getValueSerialized"})


# ---------------------------------------------------------------------------- functions

def _math(name: str) -> Callable[..., Any]:
    def number_args(*args: Any) -> list:
        return [float(to_number(arg)) for arg in args]

    def minimum(*args: Any) -> Any:
        numbers = number_args(*args)
        return math.inf if not numbers else math.nan if any(n != n for n in numbers) \
            else _integral(min(numbers))

    def maximum(*args: Any) -> Any:
        numbers = number_args(*args)
        return -math.inf if not numbers else math.nan if any(n != n for n in numbers) \
            else _integral(max(numbers))

    def unary(function: Callable[[float], Any]) -> Callable[..., Any]:
        def call(value: Any = UNDEFINED) -> Any:
            number = float(to_number(value))
            if number != number or math.isinf(number):
                return number
            return _integral(function(number))
        return call

    return {"min": minimum, "max": maximum,
            "round": unary(lambda n: math.floor(n + 0.5)),
            "floor": unary(math.floor), "ceil": unary(math.ceil), "abs": unary(abs),
            "sqrt": unary(lambda n: math.sqrt(n) if n >= 0 else math.nan),
            "trunc": unary(math.trunc)}[name]


def _parse_int(value: Any, radix: Any = UNDEFINED) -> int | float:
    text = to_string(value).strip()[:400]
    base = 10 if radix is UNDEFINED else int(to_number(radix))
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if (base in (10, 16) and radix is UNDEFINED or base == 16) and text.lower().startswith("0x"):
        base, text = 16, text[2:]
    if not 2 <= base <= 36:
        return math.nan
    digits = ""
    for char in text:
        if char.isascii() and char.isalnum() and int(char, 36) < base:
            digits += char
        else:
            break
    return sign * int(digits, base) if digits else math.nan


def _parse_float(value: Any) -> int | float:
    text = to_string(value).strip()[:400]
    best: int | float = math.nan
    for end in range(len(text), 0, -1):
        candidate = text[:end]
        if candidate.lstrip("+-").lower().startswith(("inf", "nan", "0x")):
            continue
        try:
            best = _integral(float(candidate))
            break
        except ValueError:
            continue
    if text.lstrip("+-").startswith("Infinity"):
        return -math.inf if text.startswith("-") else math.inf
    return best


def _json_stringify(value: Any, replacer: Any = None, indent: Any = UNDEFINED) -> Any:
    if value is UNDEFINED:
        return UNDEFINED
    sandbox._bounded(value)
    spaces = None if indent is UNDEFINED or indent is None else \
        min(10, int(to_number(indent))) if not isinstance(indent, str) else indent[:10]
    text = json.dumps(to_plain(value), ensure_ascii=False, indent=spaces, default=_json_default,
                      separators=None if spaces else (",", ":"))
    sandbox._check_length(len(text))
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return to_number(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise SandboxError(f"TypeError: {type(value).__name__} cannot be written as JSON")


def _json_parse(text: Any) -> Any:
    source = to_string(text)
    sandbox._check_length(len(source))
    try:
        return json.loads(source, parse_constant=lambda name: None)
    except (ValueError, RecursionError) as err:
        raise SandboxError(f"SyntaxError: JSON.parse: {str(err)[:200]}") from None


def _number(value: Any = 0) -> int | float:
    return to_number(value)


def _string(value: Any = "") -> str:
    return to_string(value)


def _is_nan(value: Any) -> bool:
    number = to_number(value)
    return number != number


def _print(*args: Any) -> None:
    """print/println/console.log: Camunda writes to the server's console; DutyFlow drops it."""
    return None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "parseInt": _parse_int, "parseFloat": _parse_float, "String": _string, "Number": _number,
    "Boolean": lambda value=UNDEFINED: truthy(value), "isNaN": _is_nan,
    "print": _print, "println": _print,
    "Math.min": _math("min"), "Math.max": _math("max"), "Math.round": _math("round"),
    "Math.floor": _math("floor"), "Math.ceil": _math("ceil"), "Math.abs": _math("abs"),
    "Math.sqrt": _math("sqrt"), "Math.trunc": _math("trunc"),
    "JSON.stringify": _json_stringify, "JSON.parse": _json_parse,
    "console.log": _print, "console.info": _print, "console.warn": _print,
    "console.error": _print,
    "Array.isArray": lambda value=UNDEFINED: isinstance(value, list),
    "Object.keys": lambda value=UNDEFINED: list(value) if isinstance(value, dict) else
    iterate_in(value),
    "S": lambda value=UNDEFINED, format=UNDEFINED: spin(value),
}
_GLOBAL_VALUES: dict[str, Any] = {"NaN": math.nan, "Infinity": math.inf}


def call_function(name: str, *args: Any) -> Any:
    for arg in args:
        sandbox._bounded(arg)
    try:
        return FUNCTIONS[name](*args)
    except TypeError:
        raise SandboxError(f"TypeError: wrong arguments for {name}()") from None


# ---------------------------------------------------------------------------- Camunda API

def _variable_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise SandboxError("a variable name is a non-empty text")
    if name.startswith("_"):
        raise SandboxError(f"variable name '{name}' is not allowed")
    return name


def get_variable(data: Mapping, extra: Mapping, name: Any) -> Any:
    """execution.getVariable(name): null when the process has no such variable, as in Camunda."""
    key = _variable_name(name)
    if key in data:
        return data[key]
    return extra.get(key)


def set_variable(data: dict, name: Any, value: Any) -> None:
    key = _variable_name(name)
    sandbox._bounded(value)
    data[key] = to_plain(value)


def has_variable(data: Mapping, extra: Mapping, name: Any) -> bool:
    key = _variable_name(name)
    return key in data or key in extra


def remove_variable(data: dict, name: Any) -> None:
    data.pop(_variable_name(name), None)


def get_variables(data: Mapping) -> dict:
    return {key: value for key, value in data.items() if isinstance(key, str)
            and not key.startswith("_")}


def business_key(data: Mapping, extra: Mapping) -> Any:
    """execution.getProcessBusinessKey(): the `business_key` DutyFlow passes, else null."""
    return extra.get("business_key", data.get("business_key"))


class TypedValue:
    """execution.getVariableTyped(name): Camunda's typed value, of which scripts read the value."""

    def __init__(self, value: Any):
        self.value = value


def typed_method(base: Any, name: str) -> Any:
    if not isinstance(base, TypedValue):
        return call_method(base, name)
    if name == "getValue":
        return base.value
    return _json_stringify(base.value) if not isinstance(base.value, str) else base.value


# ---------------------------------------------------------------------------- Spin

class SpinJson:
    """Camunda Spin's JSON node (`S(text)`): read with prop(), stringValue() and the like."""

    def __init__(self, data: Any):
        self.data = data

    def to_text(self) -> str:
        return _json_stringify(self.data)

    def elements(self) -> list:
        if not isinstance(self.data, list):
            raise SandboxError("SPIN/JACKSON-JSON: elements() needs a JSON array")
        return [SpinJson(item) for item in self.data]


def spin(value: Any) -> SpinJson:
    if isinstance(value, SpinJson):
        return value
    if isinstance(value, str):
        return SpinJson(_json_parse(value))
    return SpinJson(to_plain(value))


def _spin_prop(node: SpinJson, name: Any, value: Any = UNDEFINED) -> Any:
    if not isinstance(node.data, dict):
        raise SandboxError("SPIN/JACKSON-JSON: prop() needs a JSON object")
    key = to_string(name)
    if value is not UNDEFINED:
        node.data[key] = to_plain(value)
        return node
    if key not in node.data:
        raise SandboxError(f"SPIN/JACKSON-JSON: property '{key}' not found")
    return SpinJson(node.data[key])


def _spin_value(kind: type | tuple, what: str) -> Callable[[SpinJson], Any]:
    def read(node: SpinJson) -> Any:
        if not isinstance(node.data, kind) or (kind is not bool and isinstance(node.data, bool)):
            raise SandboxError(f"SPIN/JACKSON-JSON: the value is not {what}")
        return node.data
    return read


_SPIN_METHODS: dict[str, Callable[..., Any]] = {
    "prop": _spin_prop,
    "hasProp": lambda node, name: isinstance(node.data, dict) and to_string(name) in node.data,
    "stringValue": _spin_value(str, "a string"),
    "numberValue": _spin_value((int, float), "a number"),
    "boolValue": _spin_value(bool, "a boolean"),
    "isNull": lambda node: node.data is None,
    "value": lambda node: to_plain(node.data),
    "elements": SpinJson.elements,
    "toString": SpinJson.to_text,
}


HELPERS: dict[str, Any] = {
    f"_sandbox_js_{name}": function for name, function in {
        "truthy": truthy, "add": add, "arith": arith, "neg": negate, "pos": to_number,
        "strict_eq": strict_equal, "loose_eq": loose_equal, "less": less, "in": has_key,
        "typeof": typeof, "typeof_name": typeof_name, "get_name": get_name, "member": member,
        "set_member": set_member, "iterate_of": iterate_of, "iterate_in": iterate_in,
        "call_method": call_method, "call_function": call_function,
        "get_variable": get_variable, "set_variable": set_variable,
        "has_variable": has_variable, "remove_variable": remove_variable,
        "get_variables": get_variables, "business_key": business_key,
        "typed": TypedValue, "first": lambda found, missing: next(found, missing), "typed_method": typed_method, "to_string": to_string,
    }.items()}
HELPERS["_sandbox_js_undefined"] = UNDEFINED


def script_return(value: Any) -> None:
    raise sandbox.ScriptReturn(value)


HELPERS["_sandbox_js_return"] = script_return

sandbox.register_helper_module(__file__)

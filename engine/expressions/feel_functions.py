"""FEEL's built-in functions that real Camunda 8 diagrams call: text, lists, numbers, dates,
times and durations, and the boolean and context helpers.

Each takes positional arguments; a wrong type gives null, as in FEEL. Names and how many
arguments each takes are known at deploy time, so a misspelt function is refused then.
Every function is bounded: arguments that C code compares, hashes or prints are measured
first, results that can grow are length-checked.
"""
from __future__ import annotations

import datetime as dt
import decimal
import random
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine import sandbox
from engine.sandbox import MAX_FORMAT_CHARS, SandboxError

from .feel_runtime import Range, _decimal, _kind, equal, greater, is_number, less

_MANY = 1_000  # "any number of arguments"
_DURATION = re.compile(
    r"^(-)?P(?:(\d{1,6})D)?(?:T(?:(\d{1,7})H)?(?:(\d{1,9})M)?(?:(\d{1,10}(?:\.\d{1,9})?)S)?)?$")


def _text(function: Callable[..., Any]) -> Callable[..., Any]:
    """A function of text: null unless every argument is a string."""
    def checked(*args: Any) -> Any:
        return function(*args) if all(isinstance(arg, str) for arg in args) else None
    return checked


def _numbers(function: Callable[..., Any]) -> Callable[..., Any]:
    def checked(*args: Any) -> Any:
        if not all(is_number(arg) for arg in args):
            return None
        try:
            return function(*(_decimal(arg) for arg in args))
        except (decimal.InvalidOperation, ArithmeticError, ValueError):
            return None
    return checked


def _list_of(function: Callable[..., Any]) -> Callable[..., Any]:
    """A list function called either with one list or with the items as arguments."""
    def checked(*args: Any) -> Any:
        alone = len(args) == 1 and isinstance(args[0], (list, tuple))
        values = list(args[0]) if alone else list(args)
        return function(values)
    return checked


# ----------------------------------------------------------------------------- text

def _substring(text: Any, start: Any, length: Any = None) -> Any:
    if not isinstance(text, str) or not is_number(start) \
            or (length is not None and not is_number(length)):
        return None
    start = sandbox._int(start)
    begin = start - 1 if start > 0 else len(text) + start
    begin = max(begin, 0)
    end = len(text) if length is None else begin + max(sandbox._int(length), 0)
    return text[begin:end]


def _substring_before(text: str, match: str) -> str:
    index = text.find(match)
    return text[:index] if index >= 0 else ""


def _substring_after(text: str, match: str) -> str:
    index = text.find(match)
    return text[index + len(match):] if index >= 0 else ""


def _string_join(values: Any, delimiter: Any = "", prefix: Any = "", suffix: Any = "") -> Any:
    if not isinstance(values, (list, tuple)) or not all(
            isinstance(part, str) for part in (delimiter or "", prefix or "", suffix or "")):
        return None
    parts = [value for value in values if value is not None]
    if not all(isinstance(part, str) for part in parts):
        return None
    delimiter = delimiter or ""
    sandbox._check_length(sum(map(len, parts)) + len(delimiter) * max(len(parts) - 1, 0)
                          + len(prefix or "") + len(suffix or ""))
    return (prefix or "") + delimiter.join(parts) + (suffix or "")


def _number_text(value: Decimal | int | float) -> str:
    if isinstance(value, int):
        return str(value)
    value = _decimal(value)
    if value == value.to_integral_value() and abs(value.adjusted()) < 30:
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f") if abs(value.adjusted()) < 30 else str(value)


def duration_text(value: dt.timedelta) -> str:
    """ISO 8601, as FEEL prints days-time durations: P1DT2H, PT0S, -PT5M."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    second_text = f"{seconds}.{value.microseconds:06d}".rstrip("0") if value.microseconds \
        else f"{seconds}"
    time_part = "".join(f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M"))
                        if amount) + (f"{second_text}S" if seconds or value.microseconds else "")
    date_part = f"{value.days}D" if value.days else ""
    if not date_part and not time_part:
        return "PT0S"
    return f"{sign}P{date_part}" + (f"T{time_part}" if time_part else "")


def to_string(value: Any) -> Any:
    """`string(x)`: text as it is, FEEL's notation for everything else."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return _number_text(value)
    if isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.timedelta):
        return duration_text(value)
    sandbox._bounded(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_quoted(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}:{_quoted(item)}" for key, item in value.items()) + "}"
    return None


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    text = to_string(value)
    return "null" if text is None else text


def to_number(text: Any, grouping: Any = None, decimal_separator: Any = None) -> Any:
    if is_number(text):
        return text
    if not isinstance(text, str) or len(text) > 100:
        return None
    cleaned = text.strip()
    if isinstance(grouping, str):
        cleaned = cleaned.replace(grouping, "")
    if isinstance(decimal_separator, str):
        cleaned = cleaned.replace(decimal_separator, ".")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?", cleaned):
        return None
    return int(cleaned) if re.fullmatch(r"[+-]?\d+", cleaned) else Decimal(cleaned)


# ---------------------------------------------------------------------------- lists

def _list(function: Callable[[list], Any]) -> Callable[..., Any]:
    def checked(values: Any, *args: Any) -> Any:
        return function(list(values), *args) if isinstance(values, (list, tuple)) else None
    return checked


def _all_numbers(values: list) -> bool:
    return all(is_number(value) for value in values)


def _sum(values: list) -> Any:
    if not values:
        return None
    return sum((_decimal(value) for value in values), Decimal(0)) if _all_numbers(values) else None


def _extreme(pick: Callable[[Any, Any], bool | None]) -> Callable[[list], Any]:
    def extreme(values: list) -> Any:
        if not values:
            return None
        best = values[0]
        for value in values[1:]:
            outcome = pick(value, best)
            if outcome is None:
                return None
            if outcome:
                best = value
        return best
    return extreme


def _mean(values: list) -> Any:
    total = _sum(values)
    return total / len(values) if total is not None else None


def _list_contains(values: list, value: Any) -> bool:
    return any(equal(item, value) is True for item in values)


def _index_of(values: list, value: Any) -> list:
    return [position for position, item in enumerate(values, 1) if equal(item, value) is True]


def _distinct(values: list) -> list:
    """First occurrences, by FEEL equality, in linear time: comparing every pair would be
    quadratic inside a helper, where the time limit cannot interrupt."""
    seen: set = set()
    found: list = []
    for value in values:
        key = _identity(value)
        if key not in seen:
            seen.add(key)
            found.append(value)
    return found


def _identity(value: Any) -> Any:
    """A hashable stand-in that is equal exactly when FEEL's `=` says the values are
    (1 and 1.0 alike, true and 1 not); the value was measured, so its depth is bounded."""
    kind = _kind(value)
    if kind == "number":
        return kind, _decimal(value)
    if kind == "list":
        return kind, tuple(_identity(item) for item in value)
    if kind == "context":
        return kind, frozenset((key, _identity(item)) for key, item in value.items())
    if kind == "date and time":
        return kind, value.tzinfo is None, value
    return kind, value


def _append(values: Any, *more: Any) -> Any:
    if not isinstance(values, (list, tuple)):
        return None
    sandbox._check_length(len(values) + len(more))
    return [*values, *more]


def _concatenate(*lists: Any) -> Any:
    if not all(isinstance(values, (list, tuple)) for values in lists):
        return None
    sandbox._check_length(sum(len(values) for values in lists))
    return [item for values in lists for item in values]


def _flatten(values: list) -> list:
    flat: list = []
    pending = [iter(values)]
    while pending:
        for item in pending[-1]:
            if isinstance(item, (list, tuple)):
                pending.append(iter(item))
                break
            flat.append(item)
            sandbox._check_length(len(flat))
        else:
            pending.pop()
    return flat


def _sublist(values: list, start: Any, length: Any = None) -> Any:
    if not is_number(start) or (length is not None and not is_number(length)):
        return None
    start = sandbox._int(start)
    begin = start - 1 if start > 0 else len(values) + start
    end = len(values) if length is None else begin + sandbox._int(length)
    return values[max(begin, 0):end]


def _remove(values: list, position: Any) -> Any:
    if not is_number(position) or not 1 <= abs(sandbox._int(position)) <= len(values):
        return None
    index = sandbox._int(position) - 1 if position > 0 else len(values) + sandbox._int(position)
    return values[:index] + values[index + 1:]


def _boolean_list(pick: Callable[[list], Any]) -> Callable[[list], Any]:
    def checked(values: list) -> Any:
        logical = all(value is None or isinstance(value, bool) for value in values)
        return pick(values) if logical else None
    return checked


def _all(values: list) -> Any:
    if any(value is False for value in values):
        return False
    return True if all(value is True for value in values) else None


def _any(values: list) -> Any:
    if any(value is True for value in values):
        return True
    return False if all(value is False for value in values) else None


def _union(*lists: Any) -> Any:
    joined = _concatenate(*lists)
    return _distinct(joined) if joined is not None else None


# -------------------------------------------------------------------------- numbers

def _rounding(mode: str) -> Callable[[Decimal, Decimal], Any]:
    def rounded(value: Decimal, scale: Decimal) -> Any:
        if scale != scale.to_integral_value() or not -1000 <= scale <= 1000:
            return None
        return value.quantize(Decimal(1).scaleb(-sandbox._int(scale)), rounding=mode)
    return rounded


def _modulo(dividend: Decimal, divisor: Decimal) -> Any:
    if divisor == 0:
        return None
    return dividend - divisor * (dividend / divisor).to_integral_value(rounding=decimal.ROUND_FLOOR)


def _whole(value: Decimal) -> int:
    return sandbox._int(value.to_integral_value(rounding=decimal.ROUND_FLOOR))


# --------------------------------------------------------------------- dates and times

def _parse_limited(text: Any) -> str | None:
    return text.strip() if isinstance(text, str) and len(text) <= MAX_FORMAT_CHARS else None


def _date(*args: Any) -> Any:
    if len(args) == 3:
        if not all(is_number(arg) for arg in args):
            return None
        try:
            return dt.date(*(sandbox._int(arg) for arg in args))
        except (ValueError, OverflowError):
            return None
    value = args[0]
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _parse_limited(value)
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _date_and_time(value: Any, time: Any = None) -> Any:
    if time is not None:
        if isinstance(value, dt.date) and isinstance(time, dt.time):
            return dt.datetime.combine(value, time)
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    text = _parse_limited(value)
    if not text:
        return None
    zone = re.search(r"@([A-Za-z_/+-]+)$", text)
    if zone:
        return None  # IANA zone ids are not supported; offsets (+01:00, Z) are
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _time(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timetz()
    text = _parse_limited(value)
    try:
        return dt.time.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def _duration(text: Any) -> Any:
    """Days-time durations (P2D, PT4H30M). Years-months durations (P1Y, P2M) have no
    fixed length and are not supported: null."""
    text = _parse_limited(text)
    match = _DURATION.match(text.upper()) if text else None
    if not match or text.upper() in ("P", "PT", "-P", "-PT") or text.upper().endswith("T"):
        return None
    sign, days, hours, minutes, seconds = match.groups()
    try:
        value = dt.timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                             seconds=float(seconds or 0))
    except OverflowError:
        return None
    return -value if sign else value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _today() -> dt.date:
    return _now().date()


def _cycle(*args: Any) -> Any:
    """Camunda's `cycle(interval)` / `cycle(repetitions, interval)`: an ISO 8601 repeating
    interval for a timer cycle (`R/PT1H`, `R3/P1D`)."""
    *repetitions, interval = args
    if not isinstance(interval, dt.timedelta) or interval <= dt.timedelta(0):
        return None
    if repetitions and not (is_number(repetitions[0]) and repetitions[0] >= 0
                            and repetitions[0] == int(repetitions[0])):
        return None
    count = str(int(repetitions[0])) if repetitions else ""
    return f"R{count}/{duration_text(interval)}"


def _random_number() -> Decimal:
    """Camunda's `random number()`: a number from 0 (included) to 1 (excluded)."""
    return Decimal(str(random.random()))


def _day_of_week(value: Any) -> Any:
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    return names[value.weekday()] if isinstance(value, dt.date) else None


# ------------------------------------------------------------------ booleans, contexts

def _is_defined(value: Any) -> bool:
    return value is not None


def _get_or_else(value: Any, default: Any) -> Any:
    return default if value is None else value


def _get_value(context: Any, key: Any) -> Any:
    return context.get(key) if isinstance(context, dict) and isinstance(key, str) else None


def _context_put(context: Any, key: Any, value: Any) -> Any:
    if not isinstance(context, dict) or not isinstance(key, str):
        return None
    sandbox._check_length(len(context) + 1)
    return {**context, key: value}


def _is_empty(values: Any) -> Any:
    return len(values) == 0 if isinstance(values, (list, tuple)) else None


def _string_length(text: str) -> int:
    return len(text)


def temporal(text: str) -> Any:
    """A temporal literal `@"..."`: a date-time, date, time or duration, or null."""
    for parse in (_duration, _date_and_time_only, _date, _time):
        value = parse(text)
        if value is not None:
            return value
    return None


def _date_and_time_only(text: str) -> Any:
    return _date_and_time(text) if "T" in text.upper() else None


# name -> (function, least arguments, most arguments)
BUILTINS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # text
    "string length": (_text(_string_length), 1, 1),
    "substring": (_substring, 2, 3),
    "substring before": (_text(_substring_before), 2, 2),
    "substring after": (_text(_substring_after), 2, 2),
    "upper case": (_text(str.upper), 1, 1),
    "lower case": (_text(str.lower), 1, 1),
    "trim": (_text(str.strip), 1, 1),
    "contains": (_text(lambda text, match: match in text), 2, 2),
    "starts with": (_text(str.startswith), 2, 2),
    "ends with": (_text(str.endswith), 2, 2),
    "is blank": (_text(lambda text: not text.strip()), 1, 1),
    "string join": (_string_join, 1, 4),
    "string": (to_string, 1, 1),
    "number": (to_number, 1, 3),
    # lists
    "count": (_list(len), 1, 1),
    "list contains": (_list(_list_contains), 2, 2),
    "sum": (_list_of(_sum), 1, _MANY),
    "min": (_list_of(_extreme(less)), 1, _MANY),
    "max": (_list_of(_extreme(greater)), 1, _MANY),
    "mean": (_list_of(_mean), 1, _MANY),
    "all": (_list_of(_boolean_list(_all)), 1, _MANY),
    "and": (_list_of(_boolean_list(_all)), 1, _MANY),
    "any": (_list_of(_boolean_list(_any)), 1, _MANY),
    "or": (_list_of(_boolean_list(_any)), 1, _MANY),
    "append": (_append, 1, _MANY),
    "concatenate": (_concatenate, 1, _MANY),
    "union": (_union, 1, _MANY),
    "distinct values": (_list(_distinct), 1, 1),
    "flatten": (_list(_flatten), 1, 1),
    "reverse": (_list(lambda values: values[::-1]), 1, 1),
    "index of": (_list(_index_of), 2, 2),
    "sublist": (_list(_sublist), 2, 3),
    "remove": (_list(_remove), 2, 2),
    "is empty": (_is_empty, 1, 1),
    # numbers
    "abs": (_numbers(abs), 1, 1),
    "floor": (_numbers(_whole), 1, 1),
    "ceiling": (_numbers(lambda value: sandbox._int(value.to_integral_value(
        rounding=decimal.ROUND_CEILING))), 1, 1),
    "decimal": (_numbers(_rounding(decimal.ROUND_HALF_EVEN)), 2, 2),
    "round half up": (_numbers(_rounding(decimal.ROUND_HALF_UP)), 2, 2),
    "round half down": (_numbers(_rounding(decimal.ROUND_HALF_DOWN)), 2, 2),
    "round up": (_numbers(_rounding(decimal.ROUND_UP)), 2, 2),
    "round down": (_numbers(_rounding(decimal.ROUND_DOWN)), 2, 2),
    "modulo": (_numbers(_modulo), 2, 2),
    "sqrt": (_numbers(lambda value: value.sqrt() if value >= 0 else None), 1, 1),
    "odd": (_numbers(lambda value: value % 2 in (1, -1) if value == value.to_integral_value()
                     else False), 1, 1),
    "even": (_numbers(lambda value: value % 2 == 0), 1, 1),
    # dates, times, durations
    "date": (_date, 1, 3),
    "date and time": (_date_and_time, 1, 2),
    "time": (_time, 1, 1),
    "duration": (_duration, 1, 1),
    "now": (_now, 0, 0),
    "today": (_today, 0, 0),
    "day of week": (_day_of_week, 1, 1),
    # Camunda's own
    "uuid": (lambda: str(uuid.uuid4()), 0, 0),
    "cycle": (_cycle, 1, 2),
    "random number": (_random_number, 0, 0),
    # booleans and contexts
    "not": (lambda value: (not value) if isinstance(value, bool) else None, 1, 1),
    "is defined": (_is_defined, 1, 1),
    "get or else": (_get_or_else, 2, 2),
    "get value": (_get_value, 2, 2),
    "context put": (_context_put, 3, 3),
}


def call(name: str, *args: Any) -> Any:
    """Run built-in `name` (its arity was checked at deploy time)."""
    function = BUILTINS[name][0]
    for arg in args:
        if isinstance(arg, Range):
            return None
        if isinstance(arg, (list, tuple, dict)):
            sandbox._bounded(arg)  # every list function walks or compares its items
    try:
        return function(*args)
    except SandboxError:
        raise
    except (TypeError, ValueError, ArithmeticError, decimal.InvalidOperation):
        return None


sandbox.register_helper_module(__file__)

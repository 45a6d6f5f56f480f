"""KPI schemes: weighted indicators per department, validated as HR writes them."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from types import MappingProxyType
from typing import Any, Mapping

from .periods import Period, PeriodError

DEFAULT_CAP = Decimal("1.2")


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    is_count: bool = False  # a count of nothing is 0; a rate of nothing is not applicable


METRICS = {metric.name: metric for metric in (
    Metric("completed_count", True, optional=("task", "process_key"), is_count=True),
    Metric("on_time_rate", True),
    Metric("field_rate", True, required=("task", "field", "value")),
    Metric("avg_handling_hours", False),
    Metric("completion_rate", True),
)}
PARAMETERS = ("task", "process_key", "field", "value")


class SchemeError(ValueError):
    """The scheme is refused; `errors` maps a path like `indicators[1].weight` to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {' '.join(messages)}"
                                   for path, messages in errors.items()))


@dataclass(frozen=True)
class Indicator:
    metric: str
    weight: Decimal
    target: Decimal
    task: str | None = None
    process_key: str | None = None
    field: str | None = None
    value: str | None = None

    @cached_property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric].higher_is_better

    @cached_property
    def default_actual(self) -> Decimal | None:
        """The actual of someone with no data: a count of nothing is 0, a rate is not applicable."""
        return Decimal(0) if METRICS[self.metric].is_count else None

    @cached_property
    def key(self) -> str:
        """Stable identity of what is measured (the same measure in two schemes is one column)."""
        params = ",".join(f"{name}={getattr(self, name)}" for name in PARAMETERS
                          if getattr(self, name) is not None)
        return f"{self.metric}({params})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.document)

    @cached_property
    def document(self) -> Mapping[str, Any]:
        """The indicator as a scheme document holds it, read-only: built once, as a payroll
        run copies it into every employee's line."""
        out: dict[str, Any] = {"metric": self.metric, "weight": str(self.weight),
                               "target": str(self.target)}
        out.update({name: getattr(self, name) for name in PARAMETERS
                    if getattr(self, name) is not None})
        return MappingProxyType(out)

    @cached_property
    def identified(self) -> dict[str, Any]:
        """The document and the key, as the start of every scored result's document: a
        plain dict, as copying it is four times cheaper than copying the read-only view.
        Never handed out, only copied."""
        return {**self.document, "key": self.key}


@dataclass(frozen=True)
class Scheme:
    indicators: tuple[Indicator, ...]
    cap: Decimal = DEFAULT_CAP
    # The first period (YYYY-MM) this version pays; None: every period, past ones too.
    # services.pay.kpi.scheme_rows picks, per period, the newest version in effect.
    effective_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cap": str(self.cap),
                               "indicators": [i.as_dict() for i in self.indicators]}
        if self.effective_from is not None:
            out["effective_from"] = self.effective_from
        return out


def parse_scheme(document: Any) -> Scheme:
    """Validate a scheme document; raise SchemeError naming every problem."""
    errors: dict[str, list[str]] = {}

    def error(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(document, dict):
        raise SchemeError({"_schema": ["A scheme is an object with cap and indicators."]})
    for unknown in set(document) - {"cap", "indicators", "effective_from"}:
        error(unknown, "Unknown field.")
    effective_from = document.get("effective_from")
    if effective_from is not None:
        try:
            Period.parse(effective_from if isinstance(effective_from, str) else "")
        except PeriodError:
            error("effective_from", "Must be a period YYYY-MM (or absent: every period).")
    cap = _decimal(document.get("cap", DEFAULT_CAP))
    if cap is None or cap <= 0:
        error("cap", "Must be a positive number.")
    raw = document.get("indicators")
    if not isinstance(raw, list) or not raw:
        error("indicators", "At least one indicator is required.")
        raw = []
    indicators = []
    for index, item in enumerate(raw):
        indicator = _parse_indicator(item, f"indicators[{index}]", error)
        if indicator is not None:
            indicators.append(indicator)
    if indicators and len(indicators) == len(raw):
        total = sum(indicator.weight for indicator in indicators)
        if total != 100:
            error("indicators", f"Weights must add up to 100; they add up to {total.normalize():f}.")
    if errors:
        raise SchemeError(errors)
    return Scheme(tuple(indicators), cap, effective_from)


def _parse_indicator(item: Any, path: str, error) -> Indicator | None:
    if not isinstance(item, dict):
        error(path, "Must be an object.")
        return None
    name = item.get("metric")
    metric = METRICS.get(name) if isinstance(name, str) else None
    if metric is None:
        error(f"{path}.metric", f"Unknown metric {item.get('metric')!r}; one of "
                                f"{', '.join(METRICS)}.")
        return None
    ok = True
    for unknown in set(item) - {"metric", "weight", "target", *PARAMETERS}:
        error(f"{path}.{unknown}", "Unknown field.")
        ok = False
    for name in metric.required:
        if not isinstance(item.get(name), str) or not item[name].strip():
            error(f"{path}.{name}", f"Required for {metric.name}.")
            ok = False
    for name in set(PARAMETERS) - set(metric.required) - set(metric.optional):
        if item.get(name) is not None:
            error(f"{path}.{name}", f"Not a parameter of {metric.name}.")
            ok = False
    weight, target = _decimal(item.get("weight")), _decimal(item.get("target"))
    if weight is None or weight <= 0 or weight > 100:
        error(f"{path}.weight", "Must be a number above 0 and at most 100.")
        ok = False
    if target is None or target <= 0:
        error(f"{path}.target", "Must be a positive number.")
        ok = False
    if not ok:
        return None
    return Indicator(metric.name, weight, target,
                     **{name: str(item[name]) for name in PARAMETERS if item.get(name) is not None})


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None

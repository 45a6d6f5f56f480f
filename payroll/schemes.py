"""KPI schemes: weighted indicators per department, validated as HR writes them."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from types import MappingProxyType
from typing import Any, Callable, Mapping

from marshmallow import (Schema, ValidationError, fields, post_load, pre_load, validate,
                         validates, validates_schema)

from .documents import Checked, error_paths
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
    Metric("escalation_free_rate", True),
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
    try:
        return _SchemeSchema().load(document)
    except ValidationError as err:
        raise SchemeError(error_paths(err.messages)) from None


def _positive(at_most: Decimal | None = None) -> Callable[[Any], Decimal | None]:
    """A reader of a finite decimal above 0 (and at most `at_most`), for `Checked`."""
    def read(value: Any) -> Decimal | None:
        number = _decimal(value)
        if number is None or number <= 0 or (at_most is not None and number > at_most):
            return None
        return number
    return read


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class _IndicatorSchema(Schema):
    """One weighted indicator; its parameters depend on its metric, so an unknown metric is
    the only problem reported for it."""

    error_messages = {"type": "Must be an object."}

    metric = fields.String(required=True)
    weight = Checked(_positive(Decimal(100)), "Must be a number above 0 and at most 100.",
                     required=True)
    target = Checked(_positive(), "Must be a positive number.", required=True)
    task = fields.Raw(allow_none=True)
    process_key = fields.Raw(allow_none=True)
    field = fields.Raw(allow_none=True)
    value = fields.Raw(allow_none=True)

    @pre_load
    def _known_metric(self, item: Any, **kwargs) -> Any:
        """Refuse an unknown metric before anything else (an item that is no mapping is
        left to the schema's own type check)."""
        if isinstance(item, Mapping):
            name = item.get("metric")
            if not (isinstance(name, str) and name in METRICS):
                raise ValidationError({"metric": [f"Unknown metric {name!r}; one of "
                                                  f"{', '.join(METRICS)}."]})
        return item

    @validates_schema(skip_on_field_errors=False)
    def _parameters_of_the_metric(self, item: dict, **kwargs) -> None:
        metric = METRICS.get(item.get("metric"))
        if metric is None:  # the item is no mapping: that is its one problem
            return
        errors = {name: [f"Required for {metric.name}."] for name in metric.required
                  if not isinstance(item.get(name), str) or not item[name].strip()}
        errors.update({name: [f"Not a parameter of {metric.name}."]
                       for name in set(PARAMETERS) - set(metric.required) - set(metric.optional)
                       if item.get(name) is not None})
        if errors:
            raise ValidationError(errors)

    @post_load
    def _indicator(self, item: dict, **kwargs) -> Indicator:
        return Indicator(item["metric"], item["weight"], item["target"],
                         **{name: str(item[name]) for name in PARAMETERS
                            if item.get(name) is not None})


_PERIOD_MESSAGE = "Must be a period YYYY-MM (or absent: every period)."
_NO_INDICATOR = "At least one indicator is required."


def _period(text: str) -> None:
    try:
        Period.parse(text)
    except PeriodError:
        raise ValidationError(_PERIOD_MESSAGE) from None


class _SchemeSchema(Schema):
    """The whole scheme: its weights add up to 100 once every indicator is valid."""

    error_messages = {"type": "A scheme is an object with cap and indicators."}

    cap = Checked(_positive(), "Must be a positive number.", load_default=DEFAULT_CAP)
    indicators = fields.List(
        fields.Nested(_IndicatorSchema), required=True,
        validate=validate.Length(min=1, error=_NO_INDICATOR), error_messages={"required": _NO_INDICATOR, "null": _NO_INDICATOR, "invalid": _NO_INDICATOR})
    effective_from = fields.String(allow_none=True, load_default=None, validate=_period,
                                   error_messages={"invalid": _PERIOD_MESSAGE})

    @validates("indicators")
    def _weights_add_up(self, indicators: list, **kwargs) -> None:
        """Only of a list whose every indicator is valid: one refused has no weight to add."""
        if not all(isinstance(indicator, Indicator) for indicator in indicators):
            return
        total = sum(indicator.weight for indicator in indicators)
        if total != 100:
            raise ValidationError(f"Weights must add up to 100; they add up to {total.normalize():f}.")

    @post_load
    def _scheme(self, document: dict, **kwargs) -> Scheme:
        return Scheme(tuple(document["indicators"]), document["cap"], document["effective_from"])

"""From measured actuals to indicator scores, a KPI score and a bonus.

Rounding, in this order, so anyone can redo a payslip by hand: actuals (rates,
averages) to 4 places; each indicator score to 4 places; the KPI score to 4
places; bonus and every money line to cents, half up.
"""
from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from .money import money, score
from .schemes import Indicator, Scheme

ZERO_SCORE = score(Decimal(0))


class IndicatorResult(NamedTuple):
    """A tuple, not a dataclass: a payroll run makes one per employee and indicator."""

    indicator: Indicator
    actual: Decimal | None  # None: nothing to measure, so not applicable (never 0)
    score: Decimal | None

    @property
    def applicable(self) -> bool:
        return self.actual is not None

    def as_dict(self) -> dict:
        if self.actual is None:
            return {**self.indicator.identified, "actual": None, "score": None,
                    "applicable": False}
        return {**self.indicator.identified, "actual": str(self.actual),
                "score": str(self.score), "applicable": True}


class KpiResult(NamedTuple):
    indicators: tuple[IndicatorResult, ...]
    kpi_score: Decimal
    flags: tuple[str, ...]


def score_indicator(indicator: Indicator, actual: Decimal | None, cap: Decimal) -> IndicatorResult:
    if actual is None:
        return IndicatorResult(indicator, None, None)
    actual = score(actual)
    if indicator.higher_is_better:
        raw = actual / indicator.target
    else:
        raw = cap if actual == 0 else indicator.target / actual
    return IndicatorResult(indicator, actual, score(min(raw, cap)))


def score_kpi(scheme: Scheme, actuals: dict[str, Decimal | None]) -> KpiResult:
    """Weighted mean of applicable indicator scores; 0 and flagged when none applies."""
    cap = scheme.cap
    results = tuple(score_indicator(indicator, actuals.get(indicator.key, indicator.default_actual),
                                    cap)
                    for indicator in scheme.indicators)
    weights = weighted = Decimal(0)
    for indicator, actual, indicator_score in results:
        if actual is not None:
            weights += indicator.weight
            weighted += indicator.weight * indicator_score
    if not weights:
        return KpiResult(results, ZERO_SCORE, ("no_applicable_indicator",))
    return KpiResult(results, score(weighted / weights), ())


def bonus(bonus_base: Decimal, kpi_score: Decimal) -> Decimal:
    return money(bonus_base * kpi_score)

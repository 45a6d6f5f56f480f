"""From measured actuals to indicator scores, a KPI score and a bonus.

Rounding, in this order, so anyone can redo a payslip by hand: actuals (rates,
averages) to 4 places; each indicator score to 4 places; the KPI score to 4
places; bonus and every money line to cents, half up.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .money import money, score
from .schemes import METRICS, Indicator, Scheme


@dataclass(frozen=True)
class IndicatorResult:
    indicator: Indicator
    actual: Decimal | None  # None: nothing to measure, so not applicable (never 0)
    score: Decimal | None

    @property
    def applicable(self) -> bool:
        return self.actual is not None

    def as_dict(self) -> dict:
        return {**self.indicator.document, "key": self.indicator.key,
                "actual": None if self.actual is None else str(self.actual),
                "score": None if self.score is None else str(self.score),
                "applicable": self.applicable}


@dataclass(frozen=True)
class KpiResult:
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
    results = tuple(score_indicator(indicator, _actual_or_default(indicator, actuals), scheme.cap)
                    for indicator in scheme.indicators)
    applicable = [result for result in results if result.applicable]
    if not applicable:
        return KpiResult(results, score(Decimal(0)), ("no_applicable_indicator",))
    weights = sum(result.indicator.weight for result in applicable)
    weighted = sum(result.indicator.weight * result.score for result in applicable)
    return KpiResult(results, score(weighted / weights), ())


def _actual_or_default(indicator: Indicator, actuals: dict[str, Decimal | None]) -> Decimal | None:
    if indicator.key in actuals:
        return actuals[indicator.key]
    return Decimal(0) if METRICS[indicator.metric].is_count else None


def bonus(bonus_base: Decimal, kpi_score: Decimal) -> Decimal:
    return money(bonus_base * kpi_score)

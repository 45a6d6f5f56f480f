"""Rates as the reports show them: four places, as text, null when not applicable."""
from __future__ import annotations

from payroll.money import ratio, score


def rate(numerator, denominator) -> str | None:
    """The fraction payroll scores (`payroll.money.ratio`), rounded as payroll rounds
    actuals, so a report and a payslip never disagree about the same counts."""
    fraction = ratio(numerator, denominator)
    return None if fraction is None else str(score(fraction))

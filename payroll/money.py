"""Money and scores as Decimal with explicit rounding: never float."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
SCORE_PLACES = Decimal("0.0001")


def money(value: Decimal | int | str) -> Decimal:
    """Round one money line to cents, half up (2.345 -> 2.35)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(numerator, denominator) -> Decimal | None:
    """numerator / denominator, unrounded (`score` rounds it where it is shown or scored);
    None when there is nothing to measure: a rate over nothing is not applicable, never 0.
    Counts may come from SQL as None (SUM over no rows) or as another integer type."""
    if not denominator:
        return None
    return Decimal(int(numerator or 0)) / Decimal(int(denominator))


def score(value: Decimal) -> Decimal:
    """A score or rate as a fraction with four places ("0.8500" is 85 %)."""
    return value.quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)

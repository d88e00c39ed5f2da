"""The arithmetic every figure shares: rates, means and medians, null over an empty set."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when the denominator is zero (a rate over an empty set)."""
    return None if denominator == 0 else numerator / denominator


def median(values: Sequence[float]) -> float | None:
    """The median (the mean of the two middle values for an even count), ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def median_money(values: Sequence[Decimal]) -> float | None:
    """The median of money amounts, computed exactly in decimal and given as a number."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)

"""Small statistics for the reports: percentiles, a least-squares slope. No numpy on purpose:
the generator and the runner import this, and they should start in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` quantile (0..1) of already sorted values; None when empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, -(-int(q * n * 1_000_000) // 1_000_000))  # ceil(q * n), robust to float noise
    return float(sorted_values[min(n, rank) - 1])


def summary_ms(values_s: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p90, p95, p99, p99.9 and max of durations in seconds, reported in ms."""
    ordered = sorted(values_s)

    def ms(q: float) -> float | None:
        v = percentile(ordered, q)
        return None if v is None else round(v * 1000.0, 3)

    return {
        "count": len(ordered),
        "p50_ms": ms(0.50),
        "p90_ms": ms(0.90),
        "p95_ms": ms(0.95),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": None if not ordered else round(ordered[-1] * 1000.0, 3),
    }


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope dy/dx; None with fewer than two distinct x."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx

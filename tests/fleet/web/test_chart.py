"""fleet/web/chart.py: the inline SVG chart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fleet.web.chart import lel_chart

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


def test_lel_chart__points_scaled_and_thresholds() -> None:
    svg = lel_chart([(T0, 0.0), (T0 + timedelta(minutes=5), 50.0), (T0 + timedelta(minutes=10), 25.0)],
                    thresholds=[(20.0, "sp_low")], width=244, height=138)
    # plot area: x 44..234 (190 wide), y 10..110 (100 high), y max = 50 * 1.1 = 55
    assert 'points="44.0,110.0 139.0,19.1 234.0,64.5"' in svg
    assert '<title>sp_low 20</title>' in svg
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>")
    assert "03-01 08:00" in svg and "03-01 08:10" in svg


def test_lel_chart__empty_and_single_point() -> None:
    assert "polyline" not in lel_chart([])
    assert 'points="139.0' in lel_chart([(T0, 5.0)], width=244, height=138)

"""An inline SVG line chart of a device's gas readings, drawn on the server (no scripts, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape


def lel_chart(points: Sequence[tuple[datetime, float]], *, width: int = 720, height: int = 220,
              thresholds: Sequence[tuple[float, str]] = (), label: str = "%LEL") -> str:
    """SVG markup: a polyline of (time, %LEL), y axis 0..max (at least 10 %LEL), dashed lines at
    the alarm set points, and the first/last times on the x axis."""
    left, right, top, bottom = 44, 10, 10, 28
    w, h = width - left - right, height - top - bottom
    pts = [(t, v) for t, v in points if v is not None]
    ymax = max([10.0] + [v for _, v in pts] + [v for v, _ in thresholds])
    ymax = ymax * 1.1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(label)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>']
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + h - frac * h
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{frac * ymax:.0f}</text>')
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
    for value, name in thresholds:
        y = top + h - (value / ymax) * h
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d33" '
                     f'stroke-dasharray="4 3"><title>{escape(name)} {value:g}</title></line>')
    if pts:
        t0, t1 = pts[0][0].timestamp(), pts[-1][0].timestamp()
        span = max(t1 - t0, 1.0)
        coords = []
        for t, v in pts:
            x = left + ((t.timestamp() - t0) / span) * w if len(pts) > 1 else left + w / 2
            y = top + h - (v / ymax) * h
            coords.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<polyline class="series" fill="none" stroke="#1565c0" stroke-width="2" '
                     f'points="{" ".join(coords)}"/>')
        parts.append(f'<text x="{left}" y="{height - 8}" font-size="10">{pts[0][0]:%m-%d %H:%M}</text>')
        parts.append(f'<text x="{left + w}" y="{height - 8}" font-size="10" text-anchor="end">'
                     f'{pts[-1][0]:%m-%d %H:%M}</text>')
    parts.append("</svg>")
    return "".join(parts)

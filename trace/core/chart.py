"""The cold-chain temperature chart as a small, dependency-free SVG (a parent's phone draws it).

Time runs left to right, temperature bottom to top; the allowed band is shaded, readings are a
polyline, and readings outside the band are marked with red dots. Pure: values in, text out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from cradletrace.core.coldchain import Reading

WIDTH, HEIGHT = 320, 160
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 22


def temperature_chart_svg(readings: Sequence[Reading], low_c: float, high_c: float, title: str = "") -> str:
    """SVG markup of the readings against the allowed range [low_c, high_c]."""
    if not readings:
        return ""
    temps = [r.celsius for r in readings]
    lo = min(min(temps), low_c) - 1.0
    hi = max(max(temps), high_c) + 1.0
    t0 = readings[0].at
    span = max((readings[-1].at - t0).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + (at - t0).total_seconds() / span * plot_w

    def y(c: float) -> float:
        return TOP + (hi - c) / (hi - lo) * plot_h

    points = " ".join(f"{x(r.at):.1f},{y(r.celsius):.1f}" for r in readings)
    outside = [r for r in readings if r.celsius < low_c or r.celsius > high_c]
    dots = "".join(
        f'<circle class="excursion" cx="{x(r.at):.1f}" cy="{y(r.celsius):.1f}" r="3"><title>{r.celsius:g} °C '
        f"{r.at.isoformat(timespec='minutes')}</title></circle>"
        for r in outside
    )
    band_top, band_bottom = y(high_c), y(low_c)
    hours = span / 3600
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="temp-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title or "temperature over time")}">',
        f'<rect class="band" x="{LEFT}" y="{band_top:.1f}" width="{plot_w}" height="{band_bottom - band_top:.1f}" '
        'fill="#d8f0dc"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#888"/>',
        f'<text x="{LEFT - 4}" y="{band_top + 4:.1f}" text-anchor="end" font-size="10">{high_c:g}°</text>',
        f'<text x="{LEFT - 4}" y="{band_bottom + 4:.1f}" text-anchor="end" font-size="10">{low_c:g}°</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="10">{escape(t0.strftime("%Y-%m-%d %H:%M"))}</text>',
        f'<text x="{LEFT + plot_w}" y="{HEIGHT - 6}" text-anchor="end" font-size="10">+{hours:.1f} h</text>',
        f'<polyline class="reading" fill="none" stroke="#1f5fa8" stroke-width="1.5" points="{points}"/>',
        dots,
        "</svg>",
    ]
    return "".join(parts)

"""Cold-chain analysis: the step model for time out of range, excursions, mean kinetic temperature."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cradletrace.core.coldchain import Excursion, Reading, analyse, mean_kinetic_temperature

T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def series(temps: list[float], minutes: list[float] | None = None) -> list[Reading]:
    minutes = minutes if minutes is not None else [10 * i for i in range(len(temps))]
    return [Reading(at(m), c) for m, c in zip(minutes, temps, strict=True)]


def mkt_by_hand(celsius: list[float]) -> float:
    """USP <1079.2>: T_K = (ΔH/R) / -ln(mean(exp(-ΔH/(R·T_i)))), in 50-digit decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = 50
        delta_h = Decimal("83144")  # J/mol
        r = Decimal("8.3144")  # J/(mol·K)
        kelvins = [Decimal(repr(c)) + Decimal("273.15") for c in celsius]
        mean = sum(((-delta_h / (r * t)).exp() for t in kelvins), Decimal(0)) / len(kelvins)
        return float(delta_h / r / -mean.ln() - Decimal("273.15"))


# (temps, minutes, low, high) -> (seconds out of range, [(start min, end min, peak)])
CASES = [
    pytest.param([4, 5, 6], None, 2, 8, 0, [], id="all-inside"),
    pytest.param([2, 8], None, 2, 8, 0, [], id="bounds-are-inside"),
    pytest.param([5, 9, 5], None, 2, 8, 600, [(10, 20, 9)], id="one-reading-out-mid-series"),
    pytest.param([9, 5], None, 2, 8, 600, [(0, 10, 9)], id="first-reading-out"),
    pytest.param([5, 5, 9], None, 2, 8, 0, [(20, 20, 9)], id="last-reading-covers-no-time"),
    pytest.param([9], None, 2, 8, 0, [(0, 0, 9)], id="single-reading-out"),
    pytest.param([5], None, 2, 8, 0, [], id="single-reading-in"),
    pytest.param([9, 5, 1, 5], None, 2, 8, 1200, [(0, 10, 9), (20, 30, 1)], id="two-excursions"),
    pytest.param([5, 10, 11, 5], [0, 5, 65, 70], 2, 8, 3900, [(5, 70, 11)], id="uneven-intervals"),
    pytest.param([5, 9, 12, 10, 5], None, 2, 8, 1800, [(10, 40, 12)], id="peak-is-the-highest"),
    pytest.param([5, 1, -3, 0, 5], None, 2, 8, 1800, [(10, 40, -3)], id="peak-is-the-lowest"),
    pytest.param([9, -1, 5], None, 2, 8, 1200, [(0, 20, -1)], id="peak-farthest-from-mid-range"),
    pytest.param([5, 9, 9.5], None, 2, 8, 600, [(10, 20, 9.5)], id="excursion-open-at-the-end"),
    pytest.param([-20, -14, -20, -26, -20], None, -25, -15, 1200, [(10, 20, -14), (30, 40, -26)], id="frozen-range"),
]


@pytest.mark.parametrize(("temps", "minutes", "low", "high", "seconds", "excursions"), CASES)
def test_analyse(
    temps: list[float],
    minutes: list[float] | None,
    low: float,
    high: float,
    seconds: float,
    excursions: list[tuple[float, float, float]],
) -> None:
    summary = analyse(series(temps, minutes), low, high)
    assert summary.min_c == min(temps)
    assert summary.max_c == max(temps)
    assert summary.seconds_out_of_range == seconds
    assert summary.excursions == tuple(Excursion(at(s), at(e), p) for s, e, p in excursions)
    assert summary.verdict == ("excursion" if excursions else "ok")


def test_excursion_seconds() -> None:
    assert Excursion(at(0), at(90), 9.0).seconds == 5400


@pytest.mark.parametrize("c", [-100.0, -25.0, -18.0, 0.0, 2.0, 5.0, 8.0, 25.0, 40.0, 100.0])
def test_mean_kinetic_temperature_of_constant_readings_is_that_constant(c: float) -> None:
    assert mean_kinetic_temperature([c] * 7) == pytest.approx(c, abs=1e-9)
    assert analyse(series([c] * 7), -100, 100).mean_kinetic_c == c


@pytest.mark.parametrize(
    ("temps", "expected"),
    [
        ([2, 8, 25], 17.016),
        ([5, 5, 5, 30], 18.996),
        ([-20, -18, -15], -17.357),
        ([20, 25, 30, 25, 20], 24.761),
    ],
)
def test_mean_kinetic_temperature_by_hand(temps: list[float], expected: float) -> None:
    assert mkt_by_hand(temps) == pytest.approx(expected, abs=5e-4)
    assert mean_kinetic_temperature(temps) == pytest.approx(mkt_by_hand(temps), abs=1e-9)
    assert analyse(series(temps), -100, 100).mean_kinetic_c == expected


temps_lists = st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=30)


@given(temps_lists)
def test_mean_kinetic_temperature_is_at_least_the_mean_and_within_the_range(temps: list[float]) -> None:
    mkt = mean_kinetic_temperature(temps)
    assert mkt >= statistics.fmean(temps) - 1e-9
    assert min(temps) - 1e-9 <= mkt <= max(temps) + 1e-9
    assert mkt == pytest.approx(mkt_by_hand(temps), abs=1e-7)
    # the summary rounds to 3 decimals, which may take it at most half a milli-degree below the mean
    assert analyse(series(temps), -100, 100).mean_kinetic_c >= statistics.fmean(temps) - 5e-4 - 1e-9


@given(
    st.lists(st.tuples(st.integers(1, 3600), st.floats(-100, 100, allow_nan=False)), min_size=1, max_size=40),
    st.floats(-50, 50, allow_nan=False),
    st.floats(0.5, 50, allow_nan=False),
)
def test_step_model_invariants(steps: list[tuple[int, float]], low: float, width: float) -> None:
    high = low + width
    t, readings = T0, []
    for gap, c in steps:
        t += timedelta(seconds=gap)
        readings.append(Reading(t, c))
    summary = analyse(readings, low, high)
    outside = [not (low <= r.celsius <= high) for r in readings]
    span = (readings[-1].at - readings[0].at).total_seconds()
    expected = sum((b.at - a.at).total_seconds() for a, b, out in zip(readings, readings[1:], outside) if out)
    assert summary.seconds_out_of_range == expected
    assert 0 <= summary.seconds_out_of_range <= span
    assert sum(e.seconds for e in summary.excursions) == summary.seconds_out_of_range
    assert (summary.verdict == "excursion") == any(outside)
    # excursions are disjoint, in time order, each starting with an outside reading
    starts = {r.at for r, out in zip(readings, outside) if out}
    for a, b in zip(summary.excursions, summary.excursions[1:]):
        assert a.end < b.start
    for e in summary.excursions:
        assert e.start in starts and e.start <= e.end
        assert not (low <= e.peak_c <= high)
        during = [r.celsius for r, out in zip(readings, outside) if out and e.start <= r.at <= e.end]
        mid = (low + high) / 2
        assert e.peak_c in during
        assert abs(e.peak_c - mid) == max(abs(c - mid) for c in during)
    assert summary.min_c == min(r.celsius for r in readings)
    assert summary.max_c == max(r.celsius for r in readings)

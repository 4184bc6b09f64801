from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cradletrace.core.scanguard import CloneRule, ScanPoint, distance_km, judge

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
SHANGHAI, BEIJING, SUZHOU = (31.23, 121.47), (39.90, 116.40), (31.30, 120.58)


@pytest.mark.parametrize(("a", "b", "km"), [(SHANGHAI, BEIJING, 1067), (SHANGHAI, SUZHOU, 85), (SHANGHAI, SHANGHAI, 0)])
def test_distance_matches_known_city_distances(a: tuple[float, float], b: tuple[float, float], km: float) -> None:
    assert distance_km(*a, *b) == pytest.approx(km, abs=8)


def test_a_pack_scanned_a_few_times_at_home_is_genuine() -> None:
    scans = [ScanPoint(T0 + timedelta(days=i), *SHANGHAI) for i in range(5)] + [ScanPoint(T0, *SUZHOU), ScanPoint(T0)]
    verdict = judge(scans)
    assert not verdict.likely_copy and verdict.scans == 7 and verdict.farthest_km < 100


def test_a_code_scanned_in_distant_cities_within_the_window_is_a_likely_copy() -> None:
    verdict = judge([ScanPoint(T0, *SHANGHAI), ScanPoint(T0 + timedelta(days=3), *BEIJING)])
    assert verdict.likely_copy and "km apart" in verdict.reason


def test_distant_scans_months_apart_are_not_a_copy() -> None:
    assert not judge([ScanPoint(T0, *SHANGHAI), ScanPoint(T0 + timedelta(days=90), *BEIJING)]).likely_copy


def test_too_many_scans_is_a_likely_copy_even_without_locations() -> None:
    rule = CloneRule(max_scans=10)
    assert not judge([ScanPoint(T0)] * 10, rule).likely_copy
    verdict = judge([ScanPoint(T0)] * 11, rule)
    assert verdict.likely_copy and "11 times" in verdict.reason

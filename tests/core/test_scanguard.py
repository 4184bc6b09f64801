from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cradletrace.core.scanguard import CloneRule, ScanPoint, distance_km, judge

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SHANGHAI, BEIJING, SUZHOU = (31.23, 121.47), (39.90, 116.40), (31.30, 120.58)
GUANGZHOU, AUCKLAND = (23.13, 113.26), (-36.85, 174.76)


@pytest.mark.parametrize(("a", "b", "km"), [(SHANGHAI, BEIJING, 1067), (SHANGHAI, SUZHOU, 85), (SHANGHAI, SHANGHAI, 0)])
def test_distance_matches_known_city_distances(a: tuple[float, float], b: tuple[float, float], km: float) -> None:
    assert distance_km(*a, *b) == pytest.approx(km, abs=8)


def test_a_pack_scanned_a_few_times_at_home_is_genuine() -> None:
    scans = [ScanPoint(T0 + timedelta(days=i), *SHANGHAI, client="mum") for i in range(5)]
    scans += [ScanPoint(T0, *SUZHOU, client="dad"), ScanPoint(T0)]
    verdict = judge(scans)
    assert not verdict.likely_copy and verdict.clients == 3 and verdict.farthest_km < 100


def test_a_code_placed_far_apart_by_several_phones_within_the_window_is_a_likely_copy() -> None:
    verdict = judge(
        [
            ScanPoint(T0, *SHANGHAI, client="a"),
            ScanPoint(T0 + timedelta(days=3), *BEIJING, client="b"),
            ScanPoint(T0 + timedelta(days=4), *GUANGZHOU, client="c"),
        ]
    )
    assert verdict.likely_copy and "km apart by 3 different phones" in verdict.reason


def test_distant_scans_months_apart_are_not_a_copy() -> None:
    scans = [
        ScanPoint(T0, *SHANGHAI, client="a"),
        ScanPoint(T0 + timedelta(days=90), *BEIJING, client="b"),
        ScanPoint(T0 + timedelta(days=180), *GUANGZHOU, client="c"),
    ]
    assert not judge(scans).likely_copy


@pytest.mark.parametrize(
    "scans",
    [
        # one phone sending places from both ends of the earth: one witness
        [
            ScanPoint(T0, *SHANGHAI, client="x"),
            ScanPoint(T0 + timedelta(minutes=1), *AUCKLAND, client="x"),
            ScanPoint(T0 + timedelta(minutes=2), *BEIJING, client="x"),
        ],
        # one hostile phone far away from the real household (two phones at home): not enough either
        [
            ScanPoint(T0, *SHANGHAI, client="mum"),
            ScanPoint(T0 + timedelta(days=1), *SHANGHAI, client="dad"),
            ScanPoint(T0 + timedelta(days=2), *AUCKLAND, client="x"),
            ScanPoint(T0 + timedelta(days=2), *BEIJING, client="x"),
        ],
    ],
)
def test_one_client_alone_cannot_make_a_copy_of_places(scans: list[ScanPoint]) -> None:
    verdict = judge(scans)
    assert not verdict.likely_copy and verdict.reason == ""


def test_too_many_clients_is_a_likely_copy_even_without_locations() -> None:
    rule = CloneRule(max_clients=10)
    assert not judge([ScanPoint(T0, client=f"c{i}") for i in range(10)], rule).likely_copy
    verdict = judge([ScanPoint(T0, client=f"c{i}") for i in range(11)], rule)
    assert verdict.likely_copy and "by 11 different phones" in verdict.reason
    assert judge([ScanPoint(T0)] * 11, rule).likely_copy  # scans of no known client count one each


def test_one_clients_many_scans_count_once() -> None:
    verdict = judge([ScanPoint(T0 + timedelta(seconds=i), client="x") for i in range(500)])
    assert not verdict.likely_copy and verdict.clients == 1

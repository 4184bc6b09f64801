"""The portal's logger preview (scanner_web/static/coldchain.js) shows, before signing, the numbers the
server will: its summary equals trace/core/coldchain.py's analyse() on the same readings, and the
readings it builds are what core/events.py ColdChainData accepts, at the instants the logger meant.

Loggers are generated here with their true instants known (zoneinfo writes the local times), so
the JavaScript is checked against the truth, not against itself: the demo's cold-chain event,
excursions at both edges, gaps, frozen goods below zero, local times across both DST changes in an
IANA zone, decimal commas in semicolon files, a zh header in a tab file, Fahrenheit, bad rows named
by line. In Chromium, a 43 200-row file (30 days at one minute) is previewed in a real page of the
app and the time printed (bench/bench_logger_preview.py gives the figure with a reference).
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from cradletrace.core.chart import temperature_chart_svg
from cradletrace.core.coldchain import Reading, analyse
from cradletrace.core.events import ColdChainData
from cradletrace.demo import story
from cradletrace.devstack.nodes import REPO_ROOT
from tests.builders import run_node
from tests.test_canonical_js import client, page_with_runner  # noqa: F401 (client: the fixture)
from tests.test_phone_check import BASE

RUNNER = REPO_ROOT / "tests" / "js" / "coldchain-cases.mjs"


@dataclass
class Logger:
    """A logger file and the truth behind it."""

    name: str
    text: str
    truth: list[Reading]  # the readings the file means (bad rows left out)
    range: tuple[float, float] = (2.0, 8.0)
    mapping: dict[str, Any] = field(default_factory=dict)
    bad_lines: dict[int, str] = field(default_factory=dict)  # line -> the column's name in the message


def write(
    name: str,
    readings: list[Reading],
    *,
    zone: str | None = None,
    delimiter: str = ",",
    decimal_comma: bool = False,
    header: tuple[str, str] = ("Timestamp", "Temperature (°C)"),
    preamble: str = "",
    fahrenheit: bool = False,
    **kw: Any,
) -> Logger:
    """The CSV a logger writes: local times without offset in ``zone``, ISO times with offset otherwise."""
    lines = [delimiter.join(header)]
    for r in readings:
        at = r.at.astimezone(tz(zone)).strftime("%Y-%m-%d %H:%M:%S") if zone else r.at.isoformat()
        value = r.celsius * 9 / 5 + 32 if fahrenheit else r.celsius
        text = f"{value:.2f}" if fahrenheit else repr(value)
        lines.append(delimiter.join((at, text.replace(".", ",") if decimal_comma else text)))
    mapping = {"timezone": zone} if zone else {}
    if fahrenheit:  # the user ticks "Fahrenheit": the preview converts (to 0.001 °C) what the file says
        readings = [Reading(r.at, round((float(f"{r.celsius * 9 / 5 + 32:.2f}") - 32) * 5 / 9, 3)) for r in readings]
    return Logger(name, preamble + "\n".join(lines) + "\n", readings, mapping=mapping | kw.pop("mapping", {}), **kw)


def tz(zone: str) -> tzinfo:
    """A zone as the user may name it: an IANA name, "UTC" or a fixed offset such as +08:00."""
    if zone == "UTC":
        return UTC
    if m := re.fullmatch(r"([+-])(\d\d):(\d\d)", zone):
        minutes = int(m[2]) * 60 + int(m[3])
        return timezone(timedelta(minutes=-minutes if m[1] == "-" else minutes))
    return ZoneInfo(zone)


def series(start: datetime, minutes: int, temps: list[float]) -> list[Reading]:
    return [Reading(start + timedelta(minutes=minutes * i), c) for i, c in enumerate(temps)]


def loggers() -> list[Logger]:
    rng = random.Random(15)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    out: list[Logger] = []
    demo = next(e for e in story(datetime(2026, 11, 1, tzinfo=UTC)) if e["kind"] == "cold_chain")  # type: ignore[index]
    data = ColdChainData.model_validate_json(json.dumps(demo["data"]))  # type: ignore[index]
    out.append(write("demo cold chain", [Reading(r.at, r.c) for r in data.readings]))
    edges = [9.5, 9.0, *[rng.uniform(2.5, 7.5) for _ in range(50)], 1.0, 1.5]
    out.append(write("excursions at both edges", series(t0, 1, edges)))
    gappy = series(t0, 5, [rng.uniform(1, 9) for _ in range(300)])
    gappy = [r for i, r in enumerate(gappy) if not (40 <= i < 90 or 200 <= i < 203)]  # the logger stopped
    out.append(write("gaps", gappy, delimiter=";", decimal_comma=True))
    frozen = series(t0, 10, [round(rng.uniform(-26, -16), 1) for _ in range(500)])
    out.append(write("frozen, negative", frozen, range=(-25.0, -18.0)))
    # Europe/Berlin, local times: clocks forward on 2026-03-29 (02:00 -> 03:00) and back on 2026-10-25
    # (the hour 02:00-03:00 twice); the logger's second pass through it must come after the first.
    spring = series(datetime(2026, 3, 28, 22, tzinfo=UTC), 15, [rng.uniform(0, 10) for _ in range(24 * 4)])
    autumn = series(datetime(2026, 10, 24, 22, tzinfo=UTC), 15, [rng.uniform(0, 10) for _ in range(24 * 4)])
    out.append(write("DST forward, Europe/Berlin", spring, zone="Europe/Berlin", delimiter=";", decimal_comma=True))
    out.append(write("DST back, Europe/Berlin", autumn, zone="Europe/Berlin"))
    out.append(write("fixed offset", series(t0, 30, [4.0, 8.5, 8.0, 2.0, 1.9]), zone="+08:00"))
    zh = write(
        "zh header, tab",
        series(t0, 1, [rng.uniform(2, 9) for _ in range(200)]),
        zone="Asia/Shanghai",
        delimiter="\t",
        header=("记录时间", "温度(℃)"),
        preamble="设备编号\tTT4-88123\n",
    )
    out.append(zh)
    out.append(
        write("Fahrenheit", series(t0, 15, [3.0, 9.5, 10.0, 4.0]), header=("Date/Time", "Temp °F"), fahrenheit=True)
    )
    bad = write("bad rows", series(t0, 5, [4.0, 5.0, 6.0, 9.0, 3.0]), zone="UTC")
    lines = bad.text.splitlines()
    lines[2:2] = ["2026-02-30 10:00:00,4.0", "2026-03-01 00:07:00,warm", "2026-03-01 00:08:00,150"]
    bad.text = "\n".join(lines) + "\n"
    bad.bad_lines = {3: "(time)", 4: "(temperature)", 5: "(temperature)"}
    out.append(bad)
    month = series(t0, 1, [round(5 + 3.2 * math.sin(i / 700) + rng.gauss(0, 0.4), 2) for i in range(43_200)])
    out.append(write("30 days at one minute", month, zone="Asia/Shanghai"))
    return out


def cases(ls: list[Logger]) -> list[dict[str, Any]]:
    return [
        {"name": g.name, "text": g.text, "mapping": g.mapping, "range": {"min_c": g.range[0], "max_c": g.range[1]}}
        for g in ls
    ]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_as_server(logger: Logger, got: dict[str, Any]) -> None:
    """The preview's readings are the truth, accepted by ColdChainData, and its summary is analyse()'s."""
    name = logger.name
    low, high = logger.range
    event_data = {"shipment": "S-1", "logger": {"id": "L-1"}, "range": {"min_c": low, "max_c": high}}
    data = ColdChainData.model_validate_json(json.dumps(event_data | {"readings": got["readings"]}))
    assert [(r.at, r.c) for r in data.readings] == [(r.at, r.celsius) for r in logger.truth], name
    want = analyse(logger.truth, low, high)
    assert want == data.summary(), name
    s = got["summary"]
    assert (s["min_c"], s["max_c"], s["mean_kinetic_c"]) == (want.min_c, want.max_c, want.mean_kinetic_c), name
    assert s["seconds_out_of_range"] == want.seconds_out_of_range, name
    assert s["verdict"] == want.verdict, name
    assert [(instant(e["start"]), instant(e["end"]), e["peak_c"], e["seconds"]) for e in s["excursions"]] == [
        (e.start, e.end, e.peak_c, e.seconds) for e in want.excursions
    ], name
    # The chart: the server's frame and labels; the server's very points when there are few readings.
    server = temperature_chart_svg(data_readings := [Reading(r.at, r.c) for r in data.readings], low, high, name)
    chart = got["chart"]
    for part in re.findall(r'<rect class="band"[^>]*>|<text[^>]*>[^<]*</text>|<line[^>]*>', server):
        assert part in chart, (name, part)
    if len(data_readings) <= 2 * 278:
        assert re.search(r'points="[^"]*"', server)[0] in chart, name  # type: ignore[index]
        assert chart.count('class="excursion"') == server.count('class="excursion"'), name
    assert chart.count('class="excursion-span"') == len(want.excursions), name


@pytest.fixture(scope="module")
def node_answers() -> dict[str, tuple[Logger, dict[str, Any]]]:
    ls = loggers()
    result = run_node(["node", str(RUNNER.relative_to(REPO_ROOT))], stdin_text=json.dumps(cases(ls)), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return {g.name: (g, a) for g, a in zip(ls, json.loads(result.stdout), strict=True)}


@pytest.mark.node
def test_node_preview_is_the_servers_summary(node_answers: dict[str, tuple[Logger, dict[str, Any]]]) -> None:
    for logger, got in node_answers.values():
        if logger.bad_lines:
            continue
        assert got["problems"] == [], (logger.name, got["problems"])
        assert_as_server(logger, got)


@pytest.mark.node
def test_node_guesses_columns_and_formats(node_answers: dict[str, tuple[Logger, dict[str, Any]]]) -> None:
    def answer(name: str) -> dict[str, Any]:
        return node_answers[name][1]

    assert answer("demo cold chain")["delimiter"] == ","
    assert answer("gaps")["delimiter"] == ";" and answer("gaps")["decimalComma"] is True
    zh = answer("zh header, tab")
    assert zh["delimiter"] == "\t"
    assert zh["columns"] == [{"name": "记录时间", "role": "time"}, {"name": "温度(℃)", "role": "temperature"}]
    assert answer("Fahrenheit")["guess"]["fahrenheit"] is True
    assert answer("demo cold chain")["guess"]["fahrenheit"] is False


@pytest.mark.node
def test_node_names_bad_rows_by_line_and_column(node_answers: dict[str, tuple[Logger, dict[str, Any]]]) -> None:
    logger, got = node_answers["bad rows"]
    problems = got["problems"]
    assert len(problems) == len(logger.bad_lines), problems
    for (line, column), problem in zip(logger.bad_lines.items(), problems, strict=True):
        assert problem.startswith(f"line {line}, column ") and column in problem and "expected " in problem, problem
    assert "real calendar date" in problems[0] and '"warm"' in problems[1] and "-100 to 100" in problems[2]
    assert_as_server(logger, got)


LOCAL_NO_ZONE = "Time,Temp\n2026-03-01 00:00,4\n2026-03-01 00:01,5\n2026-03-01 00:02,6\n"
WRONG_ORDER = "Time,Temp\n2026-03-01T00:05:00Z,4\n2026-03-01T00:01:00Z,5\n"
BY_CONTENT = "2026-03-01T00:00:00+08:00,A,4.5\n2026-03-01T00:01:00+08:00,A,5\n"
QUOTED = '"Date, time (UTC+08:00)","Temperature, °C"\n"2026-03-01 00:00","4.5"\n"2026-03-01 00:01","-0.5"\n'


@pytest.mark.node
def test_node_asks_for_the_zone_and_refuses_what_the_server_would() -> None:
    ls = [
        Logger("no zone", LOCAL_NO_ZONE, []),
        Logger("bad zone", LOCAL_NO_ZONE, [], mapping={"timezone": "Mars/Olympus"}),
        Logger("wrong order", WRONG_ORDER, []),
        Logger("no header", BY_CONTENT, []),
        Logger("quoted", QUOTED, [], mapping={"timezone": "+08:00"}),
    ]
    result = run_node(["node", str(RUNNER.relative_to(REPO_ROOT))], stdin_text=json.dumps(cases(ls)))
    assert result.returncode == 0, result.stderr
    no_zone, bad_zone, wrong_order, no_header, quoted = json.loads(result.stdout)
    assert no_zone["readings"] == [] and no_zone["summary"] is None
    assert no_zone["problems"][0].startswith("line 2, column 1 (time):") and "time zone" in no_zone["problems"][0]
    assert "2 more rows" in no_zone["problems"][1]
    assert bad_zone["problems"] == [
        'timezone: expected an IANA zone name (e.g. Asia/Shanghai) or an offset (e.g. +08:00), got "Mars/Olympus"'
    ]
    assert wrong_order["problems"] == [
        'line 3, column 1 (time): expected a time after 2026-03-01T00:05:00+00:00, got "2026-03-01T00:01:00Z"'
    ]
    assert no_header["guess"] | {"timezone": None} == {
        "time": 0,
        "temperature": 2,
        "fahrenheit": False,
        "timezone": None,
    }
    assert [r["at"] for r in no_header["readings"]] == ["2026-03-01T00:00:00+08:00", "2026-03-01T00:01:00+08:00"]
    assert quoted["guess"]["timezone"] == "UTC+08:00" and quoted["problems"] == []
    assert quoted["readings"] == [
        {"at": "2026-03-01T00:00:00+08:00", "c": 4.5},
        {"at": "2026-03-01T00:01:00+08:00", "c": -0.5},
    ]


# In a page of the app, under its CSP: the module as served, the runner, then the month timed alone.
IN_PAGE = """async ([cases, month]) => {
  const cc = await import("/static/coldchain.js");
  const { run } = await import("/test-only/coldchain-cases.mjs");
  const answers = run(cc, cases);
  const start = performance.now();
  const p = cc.preview(month.text, month.mapping, month.range, month.name);
  const ms = performance.now() - start;
  return { answers, ms, count: p.readings.length, verdict: p.summary.verdict };
}"""


@pytest.mark.browser
def test_chromium_previews_a_month_at_one_minute(browser: Any, client: TestClient) -> None:
    ls = loggers()
    seen: list[str] = []
    with page_with_runner(browser, client, RUNNER, seen) as page:
        out = page.evaluate(IN_PAGE, [cases(ls[:-1]), cases(ls[-1:])[0]])
    assert f"{BASE}/static/coldchain.js" in seen
    assert all(url.startswith(BASE + "/") for url in seen), seen
    for logger, got in zip(ls[:-1], out["answers"], strict=True):
        if not logger.bad_lines:
            assert_as_server(logger, got)
    assert out["count"] == 43_200
    print(f"\n43 200-row logger file: parse + readings + summary + chart in Chromium: {out['ms']:.0f} ms")

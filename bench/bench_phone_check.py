"""How long the scan page's own checks take on the phone (issue 14, "Budgets"): headless Chromium,
unthrottled and with DevTools CPU throttling 4x, on a can's page with 12 records (the demo lot's seven
and five more lab reports, as the issue's budget is stated for 12), its records checked through
the embedded chain's /rpc, which the browser reaches through an in-process route, so the RPC answers
take about a millisecond each and the figure is what the page itself spends).

Figure: from DOMContentLoaded to the summary line's ``data-phone-check`` being set (all records checked).
Reference, measured in the same run on the same page: navigation start to DOMContentLoaded (the
browser loading and parsing the page, no checks), and the ratio of the two.

    .venv/bin/python bench/bench_phone_check.py [--rounds 5] [--extra-reports 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests' site and browser helpers

from cradletrace.config import Settings
from cradletrace.demo import story
from tests.api.conftest import commission, open_site
from tests.api.test_scan import LOT, Packs, record
from tests.browser import CHROMIUM, FLAGS
from tests.test_phone_check import BASE, WAIT_MS, forward


@contextmanager
def site_with_reports(settings: Settings, extra: int) -> Iterator[Packs]:
    """The demo site, ``extra`` more lab reports on lot IF-0001 (each sampled a day later), a can, anchored."""
    with open_site(settings, scan_rate_per_minute=0, rpc_rate_per_minute=0) as site:
        report = next(
            e
            for e in story(datetime.now(UTC))
            if e["kind"] == "test_report" and e["data"]["batch"]["lot"] == LOT  # type: ignore[index]
        )
        more = []
        for n in range(extra):
            e = copy.deepcopy(report)
            data: Any = e["data"]
            for day in ("sampled_on", "reported_on"):
                data[day] = (date.fromisoformat(data[day]) + timedelta(days=n + 3)).isoformat()
            more.append(e)
        record(site.settings, more)
        cans = commission(site.settings, LOT, 1)
        anchored = site.client.post("/api/v1/anchor", headers=site.auth("operator"))
        assert anchored.status_code == 200, anchored.text
        yield Packs(site, cans, [])


def one_run(browser: Any, packs: Any, throttle: float) -> tuple[float, float, int]:
    """(navigation → DOMContentLoaded, DOMContentLoaded → all checked) in seconds, and the records checked."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.route(f"{BASE}/**", forward(packs.client, []))
        if throttle > 1:
            context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        start = time.perf_counter()
        page.goto(BASE + packs.cans[0].path + "?lang=zh", wait_until="domcontentloaded")
        loaded = time.perf_counter()
        page.locator("#phone-summary[data-phone-check]").wait_for(timeout=WAIT_MS)
        done = time.perf_counter()
        checked = page.locator(".badge[data-phone-check='verified']").count()
        return loaded - start, done - loaded, checked
    finally:
        context.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--extra-reports", type=int, default=5, help="lab reports added to the demo lot's 7 records")
    args = parser.parse_args()
    rounds = args.rounds
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        settings = Settings(data_dir=Path(tmp) / "data")
        with site_with_reports(settings, args.extra_reports) as packs:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                one_run(browser, packs, 1)  # warm the server's view cache and the browser
                print(f"median of {rounds} page loads; figure = DOMContentLoaded -> every record checked")
                print(f"{'CPU':<14} {'records':>7} {'checks':>9} {'reference: page load':>21} {'ratio':>6}")
                for throttle in (1, 4):
                    runs = [one_run(browser, packs, throttle) for _ in range(rounds)]
                    load = statistics.median(r[0] for r in runs)
                    checks = statistics.median(r[1] for r in runs)
                    label = "unthrottled" if throttle == 1 else f"throttled {throttle}x"
                    print(
                        f"{label:<14} {runs[0][2]:>7} {checks * 1000:>6.0f} ms {load * 1000:>18.0f} ms "
                        f"{checks / load:>5.2f}x"
                    )
            finally:
                browser.close()


if __name__ == "__main__":
    main()

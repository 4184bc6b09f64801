"""How long the portal's logger preview takes in the browser (issue 15: a 30-day logger at 1-minute
intervals, 43 200 readings, previews in <= 1 s): headless Chromium, unthrottled and with DevTools CPU
throttling 4x, in a page of the app loading scanner_web/static/coldchain.js as the app serves it.

Figure: coldchain.js preview() of the file's text (parse, readings in Asia/Shanghai local time,
summary, chart), with its steps timed on their own too. Reference, measured in the same run on the
same page: JSON.parse of the event's ``data.readings`` for the same 43 200 readings (what the browser
does anyway with data of that size), and the ratio of the two.

    .venv/bin/python bench/bench_logger_preview.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for the tests' generated loggers and browser helpers

from fastapi.testclient import TestClient

from cradletrace.api.main import create_app
from cradletrace.config import Settings
from cradletrace.workspace import init_workspace
from tests.browser import CHROMIUM, FLAGS
from tests.test_coldchain_js import cases, loggers
from tests.test_phone_check import BASE, forward

IN_PAGE = """async ([month, readingsJson, rounds]) => {
  const cc = await import("/static/coldchain.js");
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = (f) => { const t = performance.now(); const out = f(); return [performance.now() - t, out]; };
  const runs = { preview: [], parse: [], readings: [], summary: [], chart: [], reference: [] };
  let count = 0;
  for (let i = 0; i < rounds; i++) {
    const [all, p] = time(() => cc.preview(month.text, month.mapping, month.range, month.name));
    runs.preview.push(all);
    count = p.readings.length;
    const [parse, parsed] = time(() => cc.parseLoggerCsv(month.text));
    const mapping = { ...parsed.guess, decimalComma: parsed.decimalComma, ...month.mapping };
    const [reading, r] = time(() => cc.readings(parsed.rows, mapping));
    const [summary] = time(() => cc.summary(r.readings, month.range, r.times));
    const [chart] = time(() => cc.chartSvg(r.readings, month.range, month.name, r.times));
    const [reference] = time(() => JSON.parse(readingsJson));
    Object.entries({ parse, readings: reading, summary, chart, reference }).forEach(([k, v]) => runs[k].push(v));
  }
  return { count, ...Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) };
}"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    month = loggers()[-1]
    case = cases([month])[0]
    readings_json = json.dumps(
        [{"at": r.at.isoformat(), "c": r.celsius} for r in month.truth], separators=(",", ":"), ensure_ascii=False
    )
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        settings = Settings(data_dir=Path(tmp) / "data")
        ws, _ = init_workspace(settings)
        with ws:
            pass
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                print(
                    f"{len(month.truth)} readings, CSV {len(month.text.encode()) / 1e6:.2f} MB, reference "
                    f"JSON.parse of data.readings {len(readings_json.encode()) / 1e6:.2f} MB; median of {args.rounds}"
                )
                print(
                    f"{'CPU':<14} {'preview':>8} {'parse':>7} {'readings':>9} {'summary':>8} {'chart':>7} "
                    f"{'reference':>10} {'ratio':>6}"
                )
                for throttle in (1, 4):
                    out = one_run(browser, client, case, readings_json, args.rounds, throttle)
                    assert out["count"] == len(month.truth), out
                    label = "unthrottled" if throttle == 1 else f"throttled {throttle}x"
                    print(
                        f"{label:<14} {out['preview']:>5.0f} ms {out['parse']:>4.0f} ms {out['readings']:>6.0f} ms "
                        f"{out['summary']:>5.0f} ms {out['chart']:>4.0f} ms {out['reference']:>7.0f} ms "
                        f"{out['preview'] / out['reference']:>5.1f}x"
                    )
            finally:
                browser.close()


def one_run(
    browser: Any, client: TestClient, case: dict[str, Any], readings_json: str, rounds: int, throttle: float
) -> dict[str, Any]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route(f"{BASE}/**", forward(client, []))
        page.goto(f"{BASE}/console?lang=en")
        if throttle > 1:
            context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        page.evaluate(IN_PAGE, [case, readings_json, 1])  # warm the module and the JIT
        return page.evaluate(IN_PAGE, [case, readings_json, rounds])  # type: ignore[no-any-return]
    finally:
        context.close()


if __name__ == "__main__":
    main()

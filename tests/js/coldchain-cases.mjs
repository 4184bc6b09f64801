// Runs scanner_web/static/coldchain.js over logger files: under Node (cases as JSON on stdin,
// answers as JSON on stdout) for tests/test_coldchain_js.py, and in Chromium through run().

/** For each case {name, text, mapping, range}: what the portal would preview. ``mapping`` holds only
 *  what the user chose (the zone, say); the rest is parseLoggerCsv's guess, as the page offers it. */
export function run(cc, cases) {
  return cases.map(({ name, text, mapping, range }) => {
    const p = cc.preview(text, mapping, range, name);
    return {
      name,
      delimiter: p.parsed.delimiter,
      columns: p.parsed.columns.map((c) => ({ name: c.name, role: c.role })),
      guess: p.parsed.guess,
      decimalComma: p.parsed.decimalComma,
      problems: p.problems,
      readings: p.readings,
      summary: p.summary && { ...p.summary, excursions: p.summary.excursions.map(({ startMs, endMs, ...e }) => e) },
      chart: p.chart,
    };
  });
}

if (typeof process !== "undefined" && process.argv[1] && process.argv[1].endsWith("coldchain-cases.mjs")) {
  const cc = await import("../../scanner_web/static/coldchain.js");
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  process.stdout.write(JSON.stringify(run(cc, JSON.parse(input))));
}

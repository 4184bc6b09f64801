// Runs scanner_web/static/samplingplan.js in Node on cases given as JSON on stdin:
// [{"plan": {n, c, m, M?}, "results": [...]}, ...]. Prints one JSON line: per case the verdict
// {verdict, above_m, above_big_m}, or {problems: [field, ...]} when the plan cannot be applied,
// for tests/test_samplingplan_js.py to compare with trace/core/samplingplan.py's plan_verdict.
import { readFileSync } from "node:fs";

import { planProblems, planVerdict } from "../../scanner_web/static/samplingplan.js";

const cases = JSON.parse(readFileSync(0, "utf8"));
const out = cases.map(({ plan, results }) => planVerdict(plan, results) ?? { problems: planProblems(plan, results).map((p) => p.where) });
process.stdout.write(`${JSON.stringify(out)}\n`);

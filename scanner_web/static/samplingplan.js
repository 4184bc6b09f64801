// A microbiological sampling plan's verdict, as trace/core/samplingplan.py's plan_verdict computes
// it: the portal's preview (portal-test-report.js) and the phone's re-derivation of the scan page's
// facts (facts.js) both use this one function. Pure, no DOM, no dependencies: Node runs it too
// (tests/test_samplingplan_js.py checks it against the Python on a shared set of cases).
//
// plan = {n, c, m, M}: M absent or null for a two-class plan. A unit exactly at m is acceptable
// and one exactly at M marginal (both are maxima); a three-class plan fails on any unit above M
// or on more than c units above m; a two-class plan on more than c units above m.

const count = (x) => typeof x === "number" && Number.isFinite(x) && x >= 0;
const whole = (x) => Number.isInteger(x);

/** Why the plan cannot be applied to these results: [{where, message}] with samplingplan.py's
 * field names (plan.n, plan.c, plan.m, plan.M, results, results[i]); empty when it can. */
export function planProblems(plan, results) {
  const out = [];
  const { n, c, m, M } = plan || {};
  const say = (where, message) => out.push({ where, message });
  if (!whole(n) || n < 1) say("plan.n", `expected n >= 1 sample units, got ${n}`);
  if (!whole(c) || !(c >= 0 && c <= n)) say("plan.c", `expected 0 <= c <= n (${n}), got ${c}`);
  if (!count(m)) say("plan.m", `expected a finite m >= 0, got ${m}`);
  if (M !== undefined && M !== null && !(count(M) && M >= m)) say("plan.M", `expected a finite M >= m (${m}), got ${M}`);
  if (!Array.isArray(results) || results.length !== n) {
    say("results", `expected one result per sample unit (n = ${n}), got ${Array.isArray(results) ? results.length : 0}`);
  }
  (Array.isArray(results) ? results : []).forEach((r, i) => {
    if (!count(r)) say(`results[${i}]`, `expected a finite count >= 0, got ${r}`);
  });
  return out;
}

/** {verdict: "pass" | "fail", above_m, above_big_m} (above_m counts the units above M too; above_big_m
 * is 0 for a two-class plan), or null when planProblems finds any. */
export function planVerdict(plan, results) {
  if (planProblems(plan, results).length) return null;
  const { c, m, M } = plan;
  const aboveM = results.filter((r) => r > m).length;
  if (M === undefined || M === null) return { verdict: aboveM > c ? "fail" : "pass", above_m: aboveM, above_big_m: 0 };
  const aboveBigM = results.filter((r) => r > M).length;
  const fails = aboveBigM > 0 || aboveM - aboveBigM > c;
  return { verdict: fails ? "fail" : "pass", above_m: aboveM, above_big_m: aboveBigM };
}

/** Whether one signed analyte passes: a plan by its plan, a single value within its limit (and minimum). */
export function analytePasses(a) {
  if (a.plan !== undefined || a.results !== undefined) return planVerdict(a.plan, a.results)?.verdict === "pass";
  return a.value <= a.limit && (a.min === null || a.min === undefined || a.value >= a.min);
}

// Step 6 of the phone check (issue 14): what the page SHOWS comes from the bytes the phone
// verified. Every fact a parent reads is rendered by scanner_web/facts.py inside an element
// marked data-fact (a path inside the signed event's "data": keys and list indexes joined by "/")
// and data-as (how the page formats it); here the same text is derived again from the verified
// bytes, format for format, and compared with what the page shows. No DOM access at import time
// and no dependencies but samplingplan.js (as pure): Node runs it too (tests/js/facts.mjs).

import { analytePasses, planVerdict } from "./samplingplan.js";

// Python's float formatting, exactly: the exact decimal value of the double (BigInt), rounded
// half to even as CPython does ("%g", "%.4f", round(x, n)); shortest digits as repr does.
function exact(x) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const e = Number(bits >> 52n);
  const m = (bits & ((1n << 52n) - 1n)) | (e ? 1n << 52n : 0n);
  const p = e ? e - 1075 : -1074; // |x| = m * 2^p
  return p >= 0 ? [m << BigInt(p), 0] : [m * 5n ** BigInt(-p), p]; // |x| = digits * 10^exp
}

/** digits * 10^-drop rounded half to even (drop >= 0), or scaled up (drop < 0). */
function shift(digits, drop) {
  if (drop <= 0) return digits * 10n ** BigInt(-drop);
  const q = 10n ** BigInt(drop);
  const [n, r] = [digits / q, digits % q];
  return 2n * r > q || (2n * r === q && n % 2n === 1n) ? n + 1n : n;
}

const sign = (x) => (x < 0 || Object.is(x, -0) ? "-" : "");

/** Python's "%.{f}f" % x. */
export function fixed(x, f) {
  const [digits, exp] = exact(x);
  const n = shift(digits, -(exp + f)).toString().padStart(f + 1, "0");
  return sign(x) + (f ? `${n.slice(0, -f)}.${n.slice(-f)}` : n);
}

/** ``digits`` (decimal string, first digit non-zero) times 10^(point - digits.length + 1)
 * as CPython prints it: fixed notation when low <= point < high, else "1.5e-05". */
function place(digits, point, low, high, keepZero) {
  if (point < low || point >= high) {
    const rest = digits.slice(1).replace(/0+$/, "");
    return `${digits[0]}${rest ? `.${rest}` : ""}e${point < 0 ? "-" : "+"}${String(Math.abs(point)).padStart(2, "0")}`;
  }
  const whole = point < 0 ? "0" : digits.slice(0, point + 1).padEnd(point + 1, "0");
  const frac = (point < 0 ? "0".repeat(-point - 1) + digits : digits.slice(point + 1)).replace(/0+$/, "");
  return whole + (frac ? `.${frac}` : keepZero ? ".0" : "");
}

/** Python's "%g" % x (six significant digits). */
export function g(x) {
  if (x === 0) return `${sign(x)}0`;
  const [digits, exp] = exact(x);
  const text = digits.toString();
  let n = shift(digits, text.length - 6).toString();
  let point = text.length - 1 + exp;
  if (n.length > 6) [n, point] = [n.slice(0, 6), point + 1]; // rounded up to a power of ten
  return sign(x) + place(n, point, -4, 6, false);
}

/** Python's str(x) of a float: the shortest digits that read back as x (as JavaScript's own). */
export function repr(x) {
  if (x === 0) return `${sign(x)}0.0`;
  const [mantissa, exp] = Math.abs(x).toExponential().split("e");
  return sign(x) + place(mantissa.replace(".", ""), Number(exp), -4, 16, true);
}

/** Python's round(x, n) of a float. */
const round = (x, n) => Number(fixed(x, n));

/** Microseconds since the epoch of a signed time (RFC 3339, as pydantic reads it: a fraction is
 * cut at microseconds). */
function micros(text) {
  const t = /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d\d):?(\d\d)?)$/.exec(text);
  if (!t) throw new Error(`not a time: ${text}`);
  const utc = Date.UTC(+t[1], t[2] - 1, +t[3], +t[4], +t[5], +(t[6] || 0));
  const offset = t[8] ? 0 : (t[9] === "-" ? -1 : 1) * (t[10] * 60 + +(t[11] || 0));
  return utc * 1000 + +(t[7] || "0").slice(0, 6).padEnd(6, "0") - offset * 60_000_000;
}

const MKT_H_OVER_R = 83144.0 / 8.3144;
const KELVIN = 273.15;

const summaries = new WeakMap(); // data -> its summary, asked once per record

/** The cold-chain summary, as trace/core/coldchain.analyse computes it. */
function summary(data) {
  if (!summaries.has(data)) summaries.set(data, analyse(data));
  return summaries.get(data);
}

function analyse(data) {
  const { readings } = data;
  const { min_c: low, max_c: high } = data.range;
  const cs = readings.map((r) => r.c);
  let out = 0;
  let terms = 0;
  readings.forEach((r, i) => {
    if (r.c < low || r.c > high) out += (micros((readings[i + 1] || r).at) - micros(r.at)) / 1e6;
    terms += Math.exp(-MKT_H_OVER_R / (r.c + KELVIN));
  });
  return {
    min: cs.reduce((a, b) => (b < a ? b : a)), // Python's min and max: the first of equals
    max: cs.reduce((a, b) => (b > a ? b : a)),
    mkt: round(MKT_H_OVER_R / -Math.log(terms / cs.length) - KELVIN, 3),
    out,
    excursion: cs.some((c) => c < low || c > high),
  };
}

/** data-as -> (value at the path, the event's data, the page's words) -> the text the page shows;
 * one for one with FORMATS in scanner_web/facts.py. */
export const FORMATS = {
  text: (v) => String(v),
  g: (v) => g(v),
  f4: (v) => fixed(v, 4),
  repr: (v) => repr(v),
  minute: (v) => {
    micros(v); // a time pydantic reads, shown as the wall clock of its own offset
    return `${v.slice(0, 10)} ${v.slice(11, 16)}`;
  },
  verdict: (a, d, w) => w[analytePasses(a) ? "pass" : "fail"],
  above_m: (a) => String(planVerdict(a.plan, a.results).above_m), // a plan analyte's units above m
  above_M: (a) => String(planVerdict(a.plan, a.results).above_big_m), // and above M
  min: (v, d) => repr(summary(d).min),
  max: (v, d) => repr(summary(d).max),
  mkt: (v, d) => fixed(summary(d).mkt, 1),
  minutes: (v, d) => fixed(summary(d).out / 60, 0),
  excursion: (v, d, w) => w[summary(d).excursion ? "excursion" : "ok"],
  doc_kind: (v, d, w) => w[`doc_kind_${v}`], // a shipment document's kind, in the page's words
  error_reason: (v, d, w) => w[`error_reason_${v}`] ?? String(v), // a correction's CBV reason in words; a URI as signed
};

/** Facts a record must show whatever the server left out: every analyte's value (a plan analyte:
 * every unit's result) and verdict, the cold chain's verdict, a shipment's customs declaration and
 * each of its documents' SHA-256. */
const REQUIRED = {
  test_report: (d) =>
    d.analytes.flatMap((a, i) => [
      ...(Array.isArray(a.results) ? a.results.map((_, j) => `analytes/${i}/results/${j} g`) : [`analytes/${i}/value g`]),
      `analytes/${i} verdict`,
    ]),
  cold_chain: () => ["readings excursion"],
  shipment: (d) => [
    ...(d.customs ? ["customs/declaration_number text"] : []),
    ...(d.documents || []).map((_, i) => `documents/${i}/sha256 text`),
  ],
};

/** The text the page should show for a fact (path, format), or null when the signed record has
 * no such fact. */
export function derive(data, path, as, words) {
  const value = path.split("/").reduce((v, key) => (v == null ? v : v[key]), data);
  const format = FORMATS[as];
  if (value == null || !format) return null;
  try {
    return format(value, data, words);
  } catch {
    return null;
  }
}

/**
 * The facts the record's element shows that the signed bytes do not say:
 * [{fact, shown, signed, element}], empty when all agree. ``bytes``: the verified signed bytes
 * (the canonical JSON); ``words``: the page's words for pass, fail, ok and excursion. A fact
 * the record must show and does not comes back with shown null and no element.
 */
export function differences(element, bytes, words) {
  const event = JSON.parse(new TextDecoder().decode(bytes));
  const data = event.data;
  const out = [];
  const seen = new Set();
  for (const el of element.querySelectorAll("[data-fact]")) {
    const { fact, as = "text", factAttr } = el.dataset;
    seen.add(`${fact} ${as}`);
    const shown = factAttr ? el.getAttribute(factAttr) : el.textContent;
    const signed = derive(data, fact, as, words);
    if (shown !== signed) out.push({ fact, shown, signed, element: el });
  }
  for (const need of REQUIRED[event.kind]?.(data) || []) {
    const [fact, as] = need.split(" ");
    if (!seen.has(need)) out.push({ fact, shown: null, signed: derive(data, fact, as, words), element: null });
  }
  return out;
}

/**
 * Step 6 for one record: null when the page shows what was signed; otherwise marks each
 * differing element (data-phone-differs holds the signed text, for scan.css to show beside it),
 * names the facts on ``badge`` (data-phone-facts) and returns the record's line in the page's
 * words: "this page shows X, the signed record says Y".
 */
export function flagged(badge, bytes, words) {
  const found = differences(badge.parentElement, bytes, words);
  if (!found.length) return null;
  const say = (key) => words[key] || key;
  for (const d of found) d.element?.setAttribute("data-phone-differs", d.signed ?? say("nothing"));
  badge.dataset.phoneFacts = found.map((d) => d.fact).join(" ");
  const lines = found.map((d) =>
    say("shown")
      .replace("{shown}", d.shown ?? say("nothing"))
      .replace("{signed}", d.signed ?? say("nothing")),
  );
  return `${say("failed")}: ${lines.join("; ")}`;
}

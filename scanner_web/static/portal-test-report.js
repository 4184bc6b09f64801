// The supplier portal's test-report form (/supplier/test-report), for labs.
//
// Builds the test_report event (exactly core/events.py's TestReportData: batch, lab {name,
// accreditation {scheme, number}}, sampled_on, reported_on, analytes [{name, category, value, unit,
// limit, min?, method} or, for a sampling plan, {name, category, plan {n, c, m, M?}, results [n
// numbers], unit, method}], document {sha256, uri}). Analytes come from a standard template (GET
// /api/v1/test-standards: name, unit, limit or plan, its citation shown), from the limits table
// recording uses (core/testreport.py's fill_limits), or by hand (a single value or a plan); each
// row previews its verdict as the server computes it: value <= limit and, with a minimum, value >=
// min; a plan row (one result input per sample unit) by samplingplan.js, plan_verdict's twin. The PDF
// certificate's SHA-256 is computed here (WebCrypto); its uri is the server's public document link,
// and the file is uploaded (POST /supplier/documents) just before the previewed bytes are signed.

import { $, documentUri, lotRef, number, readPdf, session, signedForm, storeDocument, words } from "./portal-form.js";
import { analytePasses, planVerdict } from "./samplingplan.js";

const CATEGORIES = ["heavy_metal", "microbiology", "mycotoxin", "additive", "contaminant", "nutrient"];
const limitsTable = JSON.parse($("limits-table").textContent);
let templates = [];
let certificate = null; // {bytes, sha256} of the chosen PDF
let changedHook = () => {};


function cell(child) {
  const td = document.createElement("td");
  td.append(child);
  return td;
}

function input(cls, value = "", mode) {
  const el = document.createElement("input");
  el.className = cls;
  el.value = value;
  if (mode) el.inputMode = mode;
  return el;
}

function labelled(text, child) {
  const label = document.createElement("label");
  label.className = "inline";
  label.append(`${text} `, child);
  return label;
}

// The most sample units a plan may have (core/events.py MAX_PLAN_UNITS): beyond it no inputs are made.
const MAX_PLAN_UNITS = 1000;

// A plan row's result inputs follow its n: one per sample unit, the values typed so far kept.
function fitResults(tr) {
  const box = tr.querySelector(".a-results");
  const n = Number(tr.querySelector(".a-n").value.trim());
  const want = Number.isInteger(n) && n >= 1 && n <= MAX_PLAN_UNITS ? n : 0;
  while (box.children.length > want) box.lastElementChild.remove();
  while (box.children.length < want) {
    const el = input("a-result", "", "decimal");
    el.setAttribute("aria-label", words.plan_unit.replace("{i}", box.children.length + 1));
    el.size = 6;
    box.append(el);
  }
}

// One analyte row: {name, category, unit, limit, min, method, citation}, or with ``plan`` {n, c, m,
// M} a sampling-plan row; the results are typed here.
function addRow(a = {}) {
  const tr = document.createElement("tr");
  const isPlan = a.plan !== undefined;
  tr.className = isPlan ? "analyte plan" : "analyte";
  const category = document.createElement("select");
  category.className = "a-category";
  const fallback = isPlan ? "microbiology" : "contaminant";
  for (const c of CATEGORIES) category.append(new Option(c, c, false, c === (a.category || fallback)));
  const verdict = document.createElement("output");
  verdict.className = "a-verdict";
  const citation = document.createElement("small");
  citation.className = "a-citation";
  citation.textContent = a.citation || "";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "secondary a-remove";
  remove.textContent = words.remove;
  remove.addEventListener("click", () => {
    tr.remove();
    renumber();
    changedHook();
  });
  const problem = document.createElement("small");
  problem.className = "problem";
  const first = cell(input("a-name", a.name || ""));
  first.append(problem);
  let value, limits;
  if (isPlan) {
    const p = a.plan || {};
    const results = document.createElement("div");
    results.className = "a-results";
    value = cell(results);
    limits = document.createElement("td");
    limits.className = "a-plan";
    for (const [key, cls] of [["n", "a-n"], ["c", "a-c"], ["m", "a-m"], ["M", "a-M"]]) {
      const el = input(cls, p[key] ?? "", key === "n" || key === "c" ? "numeric" : "decimal");
      el.size = 5;
      limits.append(labelled(key, el));
    }
    limits.append(Object.assign(document.createElement("small"), { className: "hint", textContent: words.plan_hint }));
  } else {
    value = cell(input("a-value", "", "decimal"));
    limits = cell(input("a-limit", a.limit ?? "", "decimal"));
  }
  tr.append(
    first,
    cell(category),
    value,
    cell(input("a-unit", a.unit || "")),
    limits,
    isPlan ? document.createElement("td") : cell(input("a-min", a.min ?? "", "decimal")),
    cell(input("a-method", a.method || "")),
    cell(verdict),
    cell(citation),
    cell(remove),
  );
  $("analytes").append(tr);
  if (isPlan) fitResults(tr);
  renumber();
  changedHook();
}

// Rows' problem slots and fields follow their index (data.analytes[i]), so the API's problems land beside them.
function renumber() {
  [...$("analytes").rows].forEach((tr, i) => {
    tr.querySelector(".problem").dataset.for = `data.analytes[${i}]`;
    tr.dataset.field = `data.analytes[${i}]`;
  });
}

// A plan row's plan and results as they will be signed (M left out when empty: a two-class plan).
function planOf(tr) {
  const get = (cls) => tr.querySelector(cls).value.trim();
  const plan = { n: number(get(".a-n")), c: number(get(".a-c")), m: number(get(".a-m")) };
  if (get(".a-M")) plan.M = number(get(".a-M"));
  return { plan, results: [...tr.querySelectorAll(".a-result")].map((el) => number(el.value)) };
}

// "pass (2 of 5 above m, none above M)": the plan's verdict and the counts it rests on.
export function planSays(plan, results) {
  const v = planVerdict(plan, results);
  if (!v) return null;
  const three = plan.M !== undefined && plan.M !== null;
  const counts = (three ? words.plan_counts_three : words.plan_counts_two)
    .replace("{above_m}", v.above_m)
    .replace("{n}", plan.n)
    .replace("{above_M}", v.above_big_m);
  return { verdict: v.verdict, text: `${v.verdict === "pass" ? words.verdict_pass : words.verdict_fail} (${counts})` };
}

function showVerdicts(e) {
  if (e?.target?.classList.contains("a-n")) fitResults(e.target.closest("tr"));
  for (const tr of $("analytes").rows) {
    const out = tr.querySelector(".a-verdict");
    if (tr.classList.contains("plan")) {
      const { plan, results } = planOf(tr);
      const said = planSays(plan, results);
      out.textContent = said ? said.text : "";
      out.className = "a-verdict " + (said ? (said.verdict === "pass" ? "ok" : "bad") : "");
      continue;
    }
    const v = number(tr.querySelector(".a-value").value);
    const lim = number(tr.querySelector(".a-limit").value);
    const lo = tr.querySelector(".a-min").value.trim() ? number(tr.querySelector(".a-min").value) : null;
    const known = typeof v === "number" && typeof lim === "number" && (lo === null || typeof lo === "number");
    const ok = known && analytePasses({ value: v, limit: lim, min: lo });
    out.textContent = known ? (ok ? words.verdict_pass : words.verdict_fail) : "";
    out.className = "a-verdict " + (known ? (ok ? "ok" : "bad") : "");
  }
}

function analytesOf() {
  return [...$("analytes").rows].map((tr) => {
    const get = (cls) => tr.querySelector(cls).value.trim();
    if (tr.classList.contains("plan")) {
      return { name: get(".a-name"), category: get(".a-category"), ...planOf(tr), unit: get(".a-unit"), method: get(".a-method") };
    }
    const a = {
      name: get(".a-name"),
      category: get(".a-category"),
      value: number(get(".a-value")),
      unit: get(".a-unit"),
      limit: number(get(".a-limit")),
    };
    if (get(".a-min")) a.min = number(get(".a-min"));
    a.method = get(".a-method");
    return a;
  });
}

function buildEvent() {
  const data = {
    batch: lotRef($("test-lot").value),
    lab: {
      name: $("lab-name").value.trim(),
      accreditation: { scheme: $("acc-scheme").value.trim(), number: $("acc-number").value.trim() },
    },
    sampled_on: $("sampled_on").value,
    reported_on: $("reported_on").value,
    analytes: analytesOf(),
    document: certificate ? { sha256: certificate.sha256, uri: documentUri(certificate.sha256) } : { sha256: "", uri: "" },
  };
  return { kind: "test_report", supplier: session.supplier, key: $("key-id").value, data };
}

function summaryRows(event) {
  const d = event.data;
  const verdict = d.analytes.every(analytePasses) ? words.verdict_pass : words.verdict_fail;
  const line = (a) =>
    a.plan
      ? `n=${a.plan.n}, c=${a.plan.c}, m=${a.plan.m}${a.plan.M !== undefined ? `, M=${a.plan.M}` : ""}: ${a.results.join(", ")} ${a.unit} — ${planSays(a.plan, a.results)?.text ?? "?"} ${a.method}`
      : `${a.value} ${a.unit} (≤ ${a.limit}${a.min !== undefined ? `, ≥ ${a.min}` : ""}) ${a.method}`;
  return [
    [words.f_test_lot, `${d.batch.gtin}/${d.batch.lot}`],
    [words.f_sampled_on, d.sampled_on],
    [words.f_reported_on, d.reported_on],
    [words.f_lab_name, `${d.lab.name} (${d.lab.accreditation.scheme} ${d.lab.accreditation.number})`],
    ...d.analytes.map((a) => [a.name, line(a)]),
    [words.f_verdict, verdict],
    [words.f_document, d.document.uri || "—"],
  ];
}

function useTemplate() {
  const t = templates.find((x) => x.id === $("template").value);
  if (!t) return;
  const notes = [];
  for (const a of t.analytes) {
    const cite = `${a.citation.standard}-${a.citation.edition} ${a.citation.clause}: “${a.citation.quote}”`;
    const rule = a.plan ? { plan: a.plan } : { limit: a.limit };
    addRow({ name: a.name, category: a.category, unit: a.unit, ...rule, method: a.method || "", citation: cite });
  }
  if (t.missing.length) notes.push(words.template_missing.replace("{list}", t.missing.map((m) => m.analyte).join(", ")));
  $("template-notes").textContent = notes.join(" · ");
}

function useLimit() {
  const l = limitsTable[Number($("limit-pick").value)];
  if (l) addRow({ name: l.name, category: l.category, unit: l.unit, limit: l.max, min: l.min ?? undefined, citation: l.source });
}

async function chooseCertificate() {
  certificate = null;
  $("certificate-sha").textContent = "";
  const slot = document.querySelector('.problem[data-for="data.document"]');
  slot.textContent = "";
  const file = $("certificate").files[0];
  if (!file) return;
  certificate = await readPdf(file);
  if (!certificate) {
    slot.textContent = words.certificate_not_pdf;
    return;
  }
  $("certificate-sha").textContent = words.certificate_hash.replace("{sha}", certificate.sha256);
  document.body.setAttribute("data-certificate", certificate.sha256);
  changedHook();
}

// The certificate goes to the document store just before signing; a refusal stops there, shown beside it.
async function upload(event, say) {
  const doc = event.data.document;
  if (!certificate || doc.sha256 !== certificate.sha256) return true; // the API names the missing document
  say(words.uploading);
  const why = await storeDocument(certificate, doc.uri);
  if (!why) return true;
  document.querySelector('.problem[data-for="data.document"]').textContent = why;
  say(words.refused.replace("{detail}", why), false);
  return false;
}

async function setup(changed) {
  changedHook = changed;
  $("add-analyte").addEventListener("click", () => addRow());
  $("add-plan-analyte").addEventListener("click", () => addRow({ plan: {} }));
  $("use-template").addEventListener("click", useTemplate);
  $("use-limit").addEventListener("click", useLimit);
  $("certificate").addEventListener("change", chooseCertificate);
  $("analytes").addEventListener("input", showVerdicts);
  const r = await fetch("/api/v1/test-standards");
  if (r.ok) templates = (await r.json()).templates;
  for (const t of templates) $("template").append(new Option(`${t.standard}-${t.edition} ${t.title} (${t.market})`, t.id));
}

const rowProblem = (path, message) => {
  const m = /^data\.analytes\[(\d+)\]/.exec(path);
  const tr = m && $("analytes").rows[Number(m[1])];
  if (!tr) return false;
  const slot = tr.querySelector(".problem");
  slot.textContent += (slot.textContent ? " " : "") + `${path.slice(m[0].length + 1) || ""} ${message}`.trim();
  return true;
};

// The custody rule (custody.py) refuses a report on a lot the lab was not asked to test; the API
// names events[0].data.batch, so it shows beside the lot field.
if ($("test-report-form")) {
  signedForm({ form: "test-report-form", status: "test-report-status", buildEvent, summaryRows, rowProblem, setup, beforeSubmit: upload });
}

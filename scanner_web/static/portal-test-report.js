// The supplier portal's test-report form (/supplier/test-report), for labs.
//
// Builds the test_report event (exactly core/events.py's TestReportData: batch, lab {name,
// accreditation {scheme, number}}, sampled_on, reported_on, analytes [{name, category, value, unit,
// limit, min?, method}], document {sha256, uri}). Analytes come from a standard template (GET
// /api/v1/test-standards: name, unit, limit, its citation shown), from the limits table recording
// uses (core/testreport.py's fill_limits), or by hand; each row previews its verdict as
// core/testreport.py computes it (value <= limit and, with a minimum, value >= min). The PDF
// certificate's SHA-256 is computed here (WebCrypto); its uri is the server's public document link,
// and the file is uploaded (POST /supplier/documents) just before the previewed bytes are signed.

import { $, lotRef, number, session, signedForm, words } from "./portal-form.js";

const CATEGORIES = ["heavy_metal", "microbiology", "mycotoxin", "additive", "contaminant", "nutrient"];
const limitsTable = JSON.parse($("limits-table").textContent);
let templates = [];
let certificate = null; // {bytes, sha256} of the chosen PDF
let changedHook = () => {};

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const documentUri = (sha) => `https://${location.host}/supplier/documents/${sha}`;

// core/testreport.py's analyte_passes.
export function passes(value, limit, min) {
  return value <= limit && (min === null || min === undefined || value >= min);
}

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

// One analyte row: {name, category, unit, limit, min, method, citation}; the result is typed here.
function addRow(a = {}) {
  const tr = document.createElement("tr");
  tr.className = "analyte";
  const category = document.createElement("select");
  category.className = "a-category";
  for (const c of CATEGORIES) category.append(new Option(c, c, false, c === (a.category || "contaminant")));
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
  tr.append(
    first,
    cell(category),
    cell(input("a-value", "", "decimal")),
    cell(input("a-unit", a.unit || "")),
    cell(input("a-limit", a.limit ?? "", "decimal")),
    cell(input("a-min", a.min ?? "", "decimal")),
    cell(input("a-method", a.method || "")),
    cell(verdict),
    cell(citation),
    cell(remove),
  );
  $("analytes").append(tr);
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

function showVerdicts() {
  for (const tr of $("analytes").rows) {
    const v = number(tr.querySelector(".a-value").value);
    const lim = number(tr.querySelector(".a-limit").value);
    const lo = tr.querySelector(".a-min").value.trim() ? number(tr.querySelector(".a-min").value) : null;
    const out = tr.querySelector(".a-verdict");
    const known = typeof v === "number" && typeof lim === "number" && (lo === null || typeof lo === "number");
    out.textContent = known ? (passes(v, lim, lo) ? words.verdict_pass : words.verdict_fail) : "";
    out.className = "a-verdict " + (known ? (passes(v, lim, lo) ? "ok" : "bad") : "");
  }
}

function analytesOf() {
  return [...$("analytes").rows].map((tr) => {
    const get = (cls) => tr.querySelector(cls).value.trim();
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
  const verdict = d.analytes.every((a) => passes(a.value, a.limit, a.min)) ? words.verdict_pass : words.verdict_fail;
  return [
    [words.f_test_lot, `${d.batch.gtin}/${d.batch.lot}`],
    [words.f_sampled_on, d.sampled_on],
    [words.f_reported_on, d.reported_on],
    [words.f_lab_name, `${d.lab.name} (${d.lab.accreditation.scheme} ${d.lab.accreditation.number})`],
    ...d.analytes.map((a) => [a.name, `${a.value} ${a.unit} (≤ ${a.limit}${a.min !== undefined ? `, ≥ ${a.min}` : ""}) ${a.method}`]),
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
    if (a.limit === null || a.limit === undefined) {
      const plan = a.plan || {};
      notes.push(words.plan_by_hand.replace("{name}", a.name).replace("{n}", plan.n).replace("{c}", plan.c).replace("{m}", plan.m));
      continue;
    }
    addRow({ name: a.name, category: a.category, unit: a.unit, limit: a.limit, method: a.method || "", citation: cite });
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
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (new TextDecoder().decode(bytes.slice(0, 5)) !== "%PDF-") {
    slot.textContent = words.certificate_not_pdf;
    return;
  }
  certificate = { bytes, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)) };
  $("certificate-sha").textContent = words.certificate_hash.replace("{sha}", certificate.sha256);
  document.body.setAttribute("data-certificate", certificate.sha256);
  changedHook();
}

// The certificate goes to the document store just before signing; a refusal stops there, shown beside it.
async function upload(event, say) {
  const doc = event.data.document;
  if (!certificate || doc.sha256 !== certificate.sha256) return true; // the API names the missing document
  say(words.uploading);
  const r = await fetch(`/supplier/documents?sha256=${doc.sha256}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/pdf", "X-CSRF-Token": session.csrf },
    body: certificate.bytes,
  });
  const body = await r.json().catch(() => ({}));
  if (r.ok && body.uri === doc.uri) return true;
  const why = (body.problems || []).map((p) => p.message).join("; ") || body.detail || `HTTP ${r.status}`;
  document.querySelector('.problem[data-for="data.document"]').textContent = why;
  say(words.refused.replace("{detail}", why), false);
  return false;
}

async function setup(changed) {
  changedHook = changed;
  $("add-analyte").addEventListener("click", () => addRow());
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

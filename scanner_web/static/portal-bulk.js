// The supplier portal's bulk upload (/supplier/bulk): a filled XLSX template checked by the server,
// then every valid row signed in this browser and submitted.
//
// The server reads the sheet (POST /supplier/bulk/check, cradletrace.bulk) and answers each row's
// problems (row, column, what was expected: the recording path's own rules) or the data of the
// event it will become; nothing is stored by the check. "Sign all valid rows" builds each event
// {kind, supplier, key, data}, takes its canonical bytes from canonical.js (canonical.py's), signs
// them with a key this browser holds (WebCrypto Ed25519, as portal-form.js) and posts them to
// POST /supplier/events (POST /api/v1/events as the session's supplier) in submissions of a fixed
// size, each stored whole or not at all. The page lists each submission as stored or refused (with
// its rows' problems); a retry first asks which events the store already holds (a lost answer),
// then resubmits each refused submission without the rows refused for problems of their own.
// Test reports: the PDFs the sheet names are chosen here, hashed (SHA-256) and uploaded before signing.

import { canonicalBytes } from "./canonical.js";
import { localKeys } from "./portal-store.js";
import { $, b64, documentUri, hex, readPdf, session, storeDocument, words } from "./portal-form.js";

const config = JSON.parse($("bulk-config").textContent); // {per, kinds}
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PREVIEWED = 100; // entries shown in the preview table
const LISTED = 1000; // problems listed
const lang = new URLSearchParams(location.search).get("lang") || (document.documentElement.lang.startsWith("zh") ? "zh" : "en");

let checked = null; // the server's answer for the current sheet
let submissions = []; // [{k, items: [{rows, event, bytes, signature, digest, problems, stored}], state, leftOut}]
const certificates = new Map(); // file name -> {bytes, sha256, uri?}
const timings = { check: 0, sign: 0, submit: 0, total: 0 };

const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
const kind = () => $("bulk-kind").value;
const keyId = () => $("key-id").value;

function say(text, ok) {
  $("bulk-status").textContent = text;
  $("bulk-status").className = "status " + (ok === undefined ? "" : ok ? "ok" : "bad");
}

function rowsText(rows) {
  const first = rows[0];
  const last = rows[rows.length - 1];
  return first === last ? String(first) : `${first}–${last}`;
}

function eventOf(entry) {
  const data = { ...entry.data };
  if (kind() === "test_report") {
    const c = certificates.get(entry.certificate);
    data.document = { sha256: c ? c.sha256 : "", uri: c ? c.uri || documentUri(c.sha256) : "" };
  }
  return { kind: kind(), supplier: session.supplier, key: keyId(), data };
}

function summary(entry) {
  const d = entry.data;
  if (kind() === "shipment") {
    return `${d.id} · ${d.lot.gtin}/${d.lot.lot} · ${d.quantity} ${d.unit} · ${d.from_site.name} → ${d.to_site.name} · ${d.shipped_at}`;
  }
  const names = d.analytes.map((a) => `${a.name} ${a.value} ${a.unit}`).join(", ");
  return `${d.batch.gtin}/${d.batch.lot} · ${d.sampled_on} / ${d.reported_on} · ${d.lab.name} · ${names} · ${entry.certificate}`;
}

function missingCertificates() {
  if (!checked || kind() !== "test_report") return [];
  return [...new Set(checked.events.map((e) => e.certificate))].filter((name) => !certificates.has(name));
}

function updateSignable() {
  const missing = missingCertificates();
  if (kind() === "test_report" && checked) {
    $("bulk-certificates-status").textContent = missing.length
      ? fill(words.bulk_certificates_missing, { list: missing.join(", ") })
      : fill(words.bulk_certificates_ready, { n: new Set(checked.events.map((e) => e.certificate)).size });
  }
  $("bulk-sign").disabled = !(checked && checked.events.length && keyId() && !missing.length && !submissions.length);
}

function reset() {
  checked = null;
  submissions = [];
  $("bulk-result").hidden = true;
  $("bulk-retry").hidden = true;
  $("bulk-progress").hidden = true;
  $("bulk-status").removeAttribute("data-done");
  for (const el of document.querySelectorAll(".problem")) el.textContent = "";
  for (const el of document.querySelectorAll(".for-test-report")) el.hidden = kind() !== "test_report";
  updateSignable();
}

function showChecked() {
  const c = checked;
  $("bulk-counts").textContent = fill(words.bulk_counts, { rows: c.rows, valid: c.valid_rows, events: c.events.length, bad: c.problem_rows });
  const list = $("bulk-problems");
  list.replaceChildren(
    ...c.problems.slice(0, LISTED).map((p) => {
      const li = document.createElement("li");
      li.dataset.row = p.row;
      li.dataset.column = p.column;
      li.textContent = p.column ? fill(words.bulk_problem_line, p) : fill(words.bulk_problem_row, p);
      return li;
    }),
  );
  if (c.problems.length > LISTED) list.append(Object.assign(document.createElement("li"), { textContent: "…" }));
  $("bulk-problems-box").hidden = !c.problems.length;
  const body = $("bulk-preview").tBodies[0];
  body.replaceChildren(
    ...c.events.slice(0, PREVIEWED).map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.rows = e.rows.join(",");
      for (const text of [rowsText(e.rows), summary(e)]) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
      return tr;
    }),
  );
  $("bulk-more").textContent = c.events.length > PREVIEWED ? fill(words.bulk_more, { n: c.events.length - PREVIEWED }) : "";
  $("canonical").textContent = c.events.length ? new TextDecoder().decode(canonicalBytes(eventOf(c.events[0]))) : "";
  $("bulk-result").hidden = false;
  $("bulk-result").dataset.checked = "true";
  say(c.events.length ? words.check_then_sign : words.bulk_nothing_valid, c.events.length ? undefined : false);
  updateSignable();
}

async function check() {
  reset();
  const file = $("bulk-file").files[0];
  if (!file) return;
  say(words.bulk_checking);
  const t = performance.now();
  const query = new URLSearchParams({ kind: kind(), zone: $("bulk-zone").value.trim(), key: keyId() || "", lang });
  const r = await fetch(`/supplier/bulk/check?${query}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": XLSX, "X-CSRF-Token": session.csrf },
    body: file,
  });
  const body = await r.json().catch(() => ({}));
  timings.check = performance.now() - t;
  if (!r.ok) {
    const problems = body.problems || [];
    for (const p of problems) {
      const slot = document.querySelector(`.problem[data-for="${p.field}"]`);
      if (slot) slot.textContent = p.message;
    }
    const rest = problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message));
    say(fill(words.refused, { detail: [body.detail || `HTTP ${r.status}`, ...rest].join("; ") }), false);
    return;
  }
  checked = body;
  showChecked();
}

async function chooseCertificates() {
  for (const file of $("bulk-certificates").files) {
    const pdf = await readPdf(file);
    if (pdf) certificates.set(file.name, pdf);
  }
  if (checked) showChecked();
}

// Every certificate the valid reports name goes to the document store before anything is signed.
async function uploadCertificates() {
  for (const name of new Set(checked.events.map((e) => e.certificate))) {
    const c = certificates.get(name);
    if (c.uri) continue;
    const why = await storeDocument(c, documentUri(c.sha256));
    if (why) {
      say(fill(words.refused, { detail: `${name}: ${why}` }), false);
      return false;
    }
    c.uri = documentUri(c.sha256);
  }
  return true;
}

// A refusal's problems, each with the index (in its submission) of the event it is about, or null.
function problemsOf(status, body) {
  const out = [];
  const at = (text) => /^events\[(\d+)\]/.exec(text || "");
  for (const p of body.problems || []) {
    const m = at(p.field) || at(p.message);
    const text = p.field ? `${p.field.replace(/^events\[\d+\]\.?/, "")}: ${p.message}` : p.message.replace(/^events\[\d+\]: /, "");
    out.push({ index: m ? Number(m[1]) : null, text });
  }
  if (!out.length && body.detail) {
    for (const line of body.detail.replace(/^not allowed: /, "").split(/;\s(?=events\[\d+\]: )/)) {
      const m = at(line);
      out.push({ index: m ? Number(m[1]) : null, text: line.replace(/^events\[\d+\]: /, "") });
    }
  }
  if (!out.length) out.push({ index: null, text: body.detail || `HTTP ${status}` });
  return out;
}

function showSubmission(s) {
  let li = document.querySelector(`#bulk-submissions li[data-k="${s.k}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.k = s.k;
    $("bulk-submissions").append(li);
  }
  li.dataset.state = s.state;
  const rows = s.items.flatMap((it) => it.rows);
  const text = { waiting: words.bulk_sub_waiting, stored: words.bulk_sub_stored, refused: words.bulk_sub_refused, unknown: words.bulk_sub_unknown }[s.state];
  li.textContent = fill(text, { k: s.k, rows: rows.length ? rowsText(rows) : "—", n: s.items.length, detail: s.detail || "" });
  const lines = [
    ...s.items.flatMap((it) => it.problems.map((p) => fill(words.bulk_problem_row, { row: it.rows.join(", "), message: p }))),
    ...(s.general || []),
    ...(s.leftOut.length ? [fill(words.bulk_left_out, { rows: s.leftOut.flatMap((it) => it.rows).join(", ") })] : []),
  ];
  if (lines.length) {
    const ul = document.createElement("ul");
    ul.replaceChildren(...lines.map((t) => Object.assign(document.createElement("li"), { textContent: t })));
    li.append(ul);
  }
}

function progress() {
  const total = submissions.reduce((n, s) => n + s.items.length + s.leftOut.length, 0);
  const done = submissions.reduce((n, s) => n + (s.state === "waiting" ? 0 : s.items.length + s.leftOut.length), 0);
  $("bulk-progress").max = total || 1;
  $("bulk-progress").value = done;
  say(fill(words.bulk_signing, { done, total }));
}

async function sign(s, privateKey) {
  await Promise.all(
    s.items.map(async (it) => {
      if (it.signature) return;
      it.bytes = canonicalBytes(it.event);
      it.signature = b64(await crypto.subtle.sign("Ed25519", privateKey, it.bytes));
    }),
  );
}

async function post(s) {
  const t = performance.now();
  for (const it of s.items) it.problems = [];
  s.general = [];
  s.detail = "";
  let r;
  let body = {};
  try {
    r = await fetch("/supplier/events", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf },
      body: JSON.stringify(s.items.map((it) => ({ event: it.event, signature: it.signature }))),
    });
    body = await r.json().catch(() => ({}));
  } catch (e) {
    r = null;
    s.detail = String(e);
  }
  timings.submit += performance.now() - t;
  if (r && r.ok) {
    s.state = "stored";
    body.events.forEach((e, i) => (s.items[i].stored = e.id));
  } else if (!r || r.status >= 500 || !(body.detail || body.problems)) {
    s.state = "unknown"; // the answer was lost: the events may or may not be stored
    s.detail ||= r ? `HTTP ${r.status}` : "";
  } else {
    s.state = "refused"; // all or nothing: nothing of this submission was stored
    for (const p of problemsOf(r.status, body)) {
      if (p.index !== null && s.items[p.index]) s.items[p.index].problems.push(p.text);
      else s.general.push(p.text);
    }
  }
  showSubmission(s);
  progress();
}

// Sign submission k+1 while submission k is on its way; the posts go one after another.
async function run(todo, privateKey) {
  let sending = null;
  for (const s of todo) {
    const t = performance.now();
    await sign(s, privateKey);
    timings.sign += performance.now() - t;
    if (sending) await sending;
    sending = post(s);
  }
  if (sending) await sending;
}

function finish(started) {
  timings.total = performance.now() - started;
  const total = submissions.reduce((n, s) => n + s.items.length + s.leftOut.length, 0);
  const stored = submissions.reduce((n, s) => n + s.items.filter((it) => it.stored).length, 0);
  const refused = submissions.filter((s) => s.state !== "stored").length;
  say(fill(refused ? words.bulk_done_refused : words.bulk_done, { stored, total, refused }), !refused);
  const status = $("bulk-status");
  status.dataset.stored = String(stored);
  status.dataset.refused = String(refused);
  status.dataset.timings = JSON.stringify(timings);
  status.dataset.done = "true";
  $("bulk-retry").hidden = !submissions.some((s) => s.state !== "stored" && s.items.length);
  $("bulk-retry").disabled = false;
}

async function privateKey() {
  const entry = (await localKeys()).find((k) => k.key_id === keyId() && k.supplier === session.supplier);
  if (!entry) say(words.no_device_key, false);
  return entry ? entry.private_key : null;
}

// Submissions of config.per events; fewer when that many would not fit POST /supplier/events's body
// limit (large test reports): each event's JSON, its signature and a margin counted.
function parts(items) {
  const out = [];
  let part = [];
  let size = 2;
  for (const it of items) {
    const more = JSON.stringify(it.event).length * 3 + 160; // UTF-8 at worst, {"event":…,"signature":"…"},
    if (part.length && (part.length === config.per || size + more > config.max_body)) {
      out.push(part);
      part = [];
      size = 2;
    }
    part.push(it);
    size += more;
  }
  if (part.length) out.push(part);
  return out;
}

async function signAll(e) {
  e.preventDefault();
  if (!checked || submissions.length) return;
  const started = performance.now();
  $("bulk-status").removeAttribute("data-done");
  Object.assign(timings, { sign: 0, submit: 0, total: 0 });
  const key = await privateKey();
  if (!key) return;
  $("bulk-sign").disabled = true;
  if (kind() === "test_report" && !(await uploadCertificates())) {
    $("bulk-sign").disabled = false;
    return;
  }
  const items = checked.events.map((entry) => ({ rows: entry.rows, event: eventOf(entry), problems: [] }));
  for (const part of parts(items)) {
    submissions.push({ k: submissions.length + 1, items: part, state: "waiting", leftOut: [], general: [] });
  }
  $("bulk-submissions").replaceChildren();
  submissions.forEach(showSubmission);
  $("bulk-submissions-box").hidden = false;
  $("bulk-progress").hidden = false;
  progress();
  await run(submissions, key);
  finish(started);
}

// A retry: events the store already holds (an answer that was lost) count as stored; a refused
// submission goes again without the rows refused for problems of their own, listed as left out.
async function retry() {
  const started = performance.now();
  $("bulk-status").removeAttribute("data-done"); // at once: the page is working again
  $("bulk-retry").disabled = true;
  const key = await privateKey();
  if (!key) return;
  const open = submissions.filter((s) => s.state !== "stored");
  const items = open.flatMap((s) => s.items);
  for (const it of items) it.digest ||= hex(await crypto.subtle.digest("SHA-256", it.bytes));
  const r = await fetch("/supplier/bulk/stored", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf },
    body: JSON.stringify({ digests: items.map((it) => it.digest) }),
  });
  const stored = r.ok ? (await r.json()).stored : {};
  const todo = [];
  for (const s of open) {
    for (const it of s.items) if (stored[it.digest]) it.stored = stored[it.digest];
    if (s.items.every((it) => it.stored)) {
      s.state = "stored";
      showSubmission(s);
      continue;
    }
    s.leftOut.push(...s.items.filter((it) => !it.stored && it.problems.length));
    s.items = s.items.filter((it) => !it.stored && !it.problems.length);
    s.state = "waiting";
    showSubmission(s);
    if (s.items.length) todo.push(s);
    else s.state = "refused";
  }
  progress();
  await run(todo, key);
  finish(started);
}

function setup() {
  const here = localKeys().then((keys) => {
    const mine = new Set(keys.filter((k) => k.supplier === session.supplier).map((k) => k.key_id));
    for (const option of [...$("key-id").options]) if (!mine.has(option.value)) option.remove();
    if (!$("key-id").options.length) say(words.no_device_key, false);
  });
  $("bulk-kind").addEventListener("change", reset);
  $("bulk-check").addEventListener("click", check);
  $("bulk-file").addEventListener("change", reset);
  $("bulk-certificates").addEventListener("change", chooseCertificates);
  $("key-id").addEventListener("change", () => checked && showChecked());
  $("bulk-form").addEventListener("submit", signAll);
  $("bulk-retry").addEventListener("click", retry);
  for (const el of document.querySelectorAll(".for-test-report")) el.hidden = kind() !== "test_report";
  here.then(() => document.body.setAttribute("data-form-ready", "true"));
}

setup();

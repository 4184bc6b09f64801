// The supplier portal's signed forms (/supplier/batch, /supplier/shipment, /supplier/test-report...):
// what they share.
//
// A form page supplies buildEvent() (the event from its fields) and summaryRows(event) (a readable
// summary); signedForm() does the rest, the same way for every kind: Preview shows the canonical
// bytes of canonical.js (canonical.py's) and the summary; Sign and submit signs exactly those bytes
// with a key this browser holds (IndexedDB, non-extractable) and posts [{event, signature}] to
// POST /supplier/events (POST /api/v1/events as the session's supplier). The API's problems are
// shown next to the fields they name; any change to the form asks for a new preview first.

import { canonicalBytes } from "./canonical.js";
import { localKeys } from "./portal-store.js";

export const words = JSON.parse(document.getElementById("portal-strings").textContent);
export const session = JSON.parse(document.getElementById("portal-session").textContent);
export const $ = (id) => document.getElementById(id);

// A number field: a Number when it reads as one, else the text as typed (the API then names it).
export function number(text) {
  const t = text.trim();
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : t;
}

// The site fieldset of portal_macros.html's site(prefix, path): {name, address, lat, lon, country?}.
export function siteOf(prefix) {
  const site = {
    name: $(`${prefix}-name`).value.trim(),
    address: $(`${prefix}-address`).value.trim(),
    lat: number($(`${prefix}-lat`).value),
    lon: number($(`${prefix}-lon`).value),
  };
  if ($(`${prefix}-country`).value.trim()) site.country = $(`${prefix}-country`).value.trim().toUpperCase();
  return site;
}

export const siteText = (s) => `${s.name}, ${s.address} (${s.lat}, ${s.lon})${s.country ? " " + s.country : ""}`;

// "GTIN/lot" as typed or picked from the lots datalist -> {gtin, lot}.
export function lotRef(text) {
  const [gtin, ...lot] = text.trim().split("/");
  return { gtin, lot: lot.join("/") };
}

export function b64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

// -- PDFs for the document store (a test report's certificate, a shipment's papers) --

export const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

// The public link of a stored document: what a signed record names beside the file's SHA-256.
export const documentUri = (sha) => `https://${location.host}/supplier/documents/${sha}`;

// A chosen file as {bytes, sha256} (WebCrypto), or null when it is no PDF (the store takes PDFs only).
export async function readPdf(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (new TextDecoder().decode(bytes.slice(0, 5)) !== "%PDF-") return null;
  return { bytes, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)) };
}

// Put a PDF in the document store (POST /supplier/documents) before the record naming it is signed:
// null when it is stored under the link ``uri``, else why not (the store's problems, in its words).
export async function storeDocument(pdf, uri) {
  const r = await fetch(`/supplier/documents?sha256=${pdf.sha256}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/pdf", "X-CSRF-Token": session.csrf },
    body: pdf.bytes,
  });
  const body = await r.json().catch(() => ({}));
  if (r.ok && body.uri === uri) return null;
  return (body.problems || []).map((p) => p.message).join("; ") || body.detail || `HTTP ${r.status}`;
}

function clearProblems() {
  for (const el of document.querySelectorAll(".problem")) el.textContent = "";
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

// Where a problem's field shows: first the page's own rowProblem (repeated rows), else the longest
// data-for path that starts the field ("events[0].data.customs.port" -> data.customs.port), else
// the status line (false).
function showProblem(field, message, rowProblem) {
  const path = (field || "").replace(/^(body|events)(\[\d+\])?\.?(event\.)?/, "");
  if (rowProblem && rowProblem(path, message)) return true;
  for (let p = path; p; p = p.replace(/(\.[^.]*|\[\d+\])$/, "")) {
    const slot = document.querySelector(`.problem[data-for="${p}"]`);
    if (slot) {
      slot.textContent += (slot.textContent ? " " : "") + message;
      const input = document.querySelector(`[data-field="${p}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
      return true;
    }
    if (!/[.[]/.test(p)) break;
  }
  return false;
}

function fillSummary(rows) {
  const dl = $("summary");
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

// Wire a signed form: {form, status: the status line's id, buildEvent, summaryRows, rowProblem?,
// setup?(changed): the page's own controls, wired before the form says it is ready,
// beforeSubmit?(event, say): work that must succeed before the previewed bytes are signed (the
// test report's certificate and the shipment's papers uploaded with storeDocument); false stops there}.
export async function signedForm({ form, status, buildEvent, summaryRows, rowProblem, setup, beforeSubmit }) {
  const formEl = $(form);
  const statusLine = $(status);
  const submit = $("sign-submit");
  let prepared = null; // {event, bytes} of the last preview

  const say = (text, ok) => {
    statusLine.textContent = text;
    statusLine.className = "status " + (ok === undefined ? "" : ok ? "ok" : "bad");
  };

  const changed = () => {
    prepared = null;
    submit.disabled = true;
  };

  function preview() {
    clearProblems();
    changed();
    const event = buildEvent();
    let bytes;
    try {
      bytes = canonicalBytes(event);
    } catch (e) {
      if (!showProblem(e.where, e.message, rowProblem)) say(e.message, false);
      return;
    }
    $("canonical").textContent = new TextDecoder().decode(bytes);
    fillSummary([...summaryRows(event), [words.signing_key, event.key]]);
    $("preview-pane").hidden = false;
    prepared = { event, bytes };
    submit.disabled = !event.key;
    say(event.key ? words.check_then_sign : words.no_device_key, event.key ? undefined : false);
  }

  async function signAndSubmit(e) {
    e.preventDefault();
    if (!prepared) return;
    const { event, bytes } = prepared;
    const entry = (await localKeys()).find((k) => k.key_id === event.key);
    if (!entry) {
      say(words.no_device_key, false);
      return;
    }
    submit.disabled = true;
    if (beforeSubmit && !(await beforeSubmit(event, say))) {
      submit.disabled = false;
      return;
    }
    say(words.working);
    const signature = b64(await crypto.subtle.sign("Ed25519", entry.private_key, bytes));
    const r = await fetch("/supplier/events", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf },
      body: JSON.stringify([{ event, signature }]),
    });
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      const id = body.events[0].id;
      statusLine.setAttribute("data-event-id", String(id));
      say(words.recorded.replace("{id}", id), true);
      prepared = null;
      return;
    }
    // A refusal (403: the custody rules) names its field too ("events[0].data.lot"), as a 422's
    // problems do; its detail already reads each refusal, so the status line does not repeat them.
    const detail = body.detail || `HTTP ${r.status}`;
    const shown = (body.problems || []).filter((p) => !showProblem(p.field, p.message, rowProblem));
    const rest = shown.filter((p) => !detail.includes(p.message)).map((p) => (p.field ? `${p.field}: ${p.message}` : p.message));
    say(words.refused.replace("{detail}", [detail, ...rest].join("; ")), false);
  }

  // Only the keys this browser holds can sign here: the others are the supplier's other devices'.
  const here = new Set((await localKeys()).filter((k) => k.supplier === session.supplier).map((k) => k.key_id));
  for (const option of [...$("key-id").options]) if (!here.has(option.value)) option.remove();
  if (!$("key-id").options.length) say(words.no_device_key, false);
  $("preview").addEventListener("click", preview);
  formEl.addEventListener("input", changed);
  formEl.addEventListener("submit", signAndSubmit);
  if (setup) await setup(changed);
  document.body.setAttribute("data-form-ready", "true");
}

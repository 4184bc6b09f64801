// The supplier portal's production-lot form (/supplier/batch).
//
// Builds the batch event from the form, shows it before signing exactly as it will be signed (the
// canonical bytes of canonical.js, which are canonical.py's, and a readable summary), signs those
// bytes with a key this browser holds (IndexedDB, non-extractable), and submits the signed event to
// POST /supplier/events, which is POST /api/v1/events as the session's supplier. The API's problems
// are shown next to the fields they name. Any change to the form asks for a new preview first.

import { canonicalBytes } from "./canonical.js";
import { localKeys } from "./portal-store.js";

const words = JSON.parse(document.getElementById("portal-strings").textContent);
const session = JSON.parse(document.getElementById("portal-session").textContent);
const form = document.getElementById("batch-form");
const statusLine = document.getElementById("batch-status");
const submit = document.getElementById("sign-submit");
const $ = (id) => document.getElementById(id);

let prepared = null; // {event, bytes} of the last preview

function say(text, ok) {
  statusLine.textContent = text;
  statusLine.className = "status " + (ok === undefined ? "" : ok ? "ok" : "bad");
}

// A number field: a Number when it reads as one, else the text as typed (the API then names it).
function number(text) {
  const t = text.trim();
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : t;
}

function inputRows() {
  return [...document.querySelectorAll("#inputs .input-row")];
}

function buildEvent() {
  const product = $("gtin").selectedOptions[0];
  const site = {
    name: $("site-name").value.trim(),
    address: $("site-address").value.trim(),
    lat: number($("site-lat").value),
    lon: number($("site-lon").value),
  };
  if ($("site-country").value.trim()) site.country = $("site-country").value.trim().toUpperCase();
  const inputs = inputRows().map((row) => {
    const [gtin, ...lot] = row.querySelector(".in-lot").value.trim().split("/");
    const out = { gtin, lot: lot.join("/") };
    if (row.querySelector(".in-quantity").value.trim()) out.quantity = number(row.querySelector(".in-quantity").value);
    if (row.querySelector(".in-unit").value.trim()) out.unit = row.querySelector(".in-unit").value.trim();
    return out;
  });
  return {
    kind: "batch",
    supplier: session.supplier,
    key: $("key-id").value,
    data: {
      product: { gtin: product ? product.value : "", name: product ? product.dataset.name : "" },
      lot: $("lot").value.trim(),
      produced_on: $("produced_on").value,
      expires_on: $("expires_on").value,
      quantity: number($("quantity").value),
      unit: $("unit").value.trim(),
      site,
      inputs,
    },
  };
}

function clearProblems() {
  for (const el of document.querySelectorAll(".problem")) el.textContent = "";
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

// Where a problem's field shows: "events[0].data.inputs[1].lot" -> the second input row; else the
// longest data-for path that starts the field; else the status line.
function showProblem(field, message) {
  const path = (field || "").replace(/^(body|events)(\[\d+\])?\.?(event\.)?/, "");
  const row = /^data\.inputs\[(\d+)\]/.exec(path);
  if (row && inputRows()[Number(row[1])]) {
    const el = inputRows()[Number(row[1])];
    el.querySelector(".problem").textContent += message + " ";
    el.querySelector(".in-lot").setAttribute("aria-invalid", "true");
    return true;
  }
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

function summary(event) {
  const d = event.data;
  const rows = [
    [words.f_product, `${d.product.name} (${d.product.gtin})`],
    [words.f_lot, d.lot],
    [words.f_produced_on, d.produced_on],
    [words.f_expires_on, d.expires_on],
    [words.f_quantity, `${d.quantity} ${d.unit}`],
    [words.f_site, `${d.site.name}, ${d.site.address} (${d.site.lat}, ${d.site.lon})${d.site.country ? " " + d.site.country : ""}`],
    [words.f_inputs, d.inputs.map((i) => `${i.gtin}/${i.lot}${i.quantity !== undefined ? ` ${i.quantity} ${i.unit || ""}` : ""}`).join("; ") || "—"],
    [words.signing_key, event.key],
  ];
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

function preview() {
  clearProblems();
  prepared = null;
  submit.disabled = true;
  const event = buildEvent();
  let bytes;
  try {
    bytes = canonicalBytes(event);
  } catch (e) {
    if (!showProblem(e.where, e.message)) say(e.message, false);
    return;
  }
  $("canonical").textContent = new TextDecoder().decode(bytes);
  summary(event);
  $("preview-pane").hidden = false;
  prepared = { event, bytes };
  submit.disabled = !event.key;
  say(event.key ? words.check_then_sign : words.no_device_key, event.key ? undefined : false);
}

function b64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
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
  const shown = (body.problems || []).filter((p) => !showProblem(p.field, p.message));
  const rest = shown.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message));
  say(words.refused.replace("{detail}", [body.detail || `HTTP ${r.status}`, ...rest].join("; ")), false);
}

function addInput() {
  const row = $("input-row").content.firstElementChild.cloneNode(true);
  row.querySelector(".remove").addEventListener("click", () => {
    row.remove();
    changed();
  });
  $("inputs").append(row);
}

function changed() {
  prepared = null;
  submit.disabled = true;
}

async function main() {
  // Only the keys this browser holds can sign here: the others are the supplier's other devices'.
  const here = new Set((await localKeys()).filter((k) => k.supplier === session.supplier).map((k) => k.key_id));
  for (const option of [...$("key-id").options]) if (!here.has(option.value)) option.remove();
  if (!$("key-id").options.length) say(words.no_device_key, false);
  $("add-input").addEventListener("click", addInput);
  $("preview").addEventListener("click", preview);
  form.addEventListener("input", changed);
  form.addEventListener("submit", signAndSubmit);
  document.body.setAttribute("data-form-ready", "true");
}

main();

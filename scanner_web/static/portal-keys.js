// The supplier portal's "key on this device" page (/supplier/keys).
//
// Makes an Ed25519 key pair with WebCrypto (the private key non-extractable), keeps it in IndexedDB,
// and registers only the public half (POST /supplier/keys, which is the API's public-key route and
// writes the key-log record). Or imports a PKCS#8 PEM from `cradletrace supplier add`: it is read
// once as extractable only to learn its public half (JWK "x"), then imported again non-extractable,
// and only that copy is kept. Every POST carries the session's CSRF token in X-CSRF-Token.

import { forget, keep, localKeys } from "./portal-store.js";

const words = JSON.parse(document.getElementById("portal-strings").textContent);
const session = JSON.parse(document.getElementById("portal-session").textContent);
const statusLine = document.getElementById("key-status");

function say(text, ok) {
  statusLine.textContent = text;
  statusLine.className = "status " + (ok === undefined ? "" : ok ? "ok" : "bad");
}

function b64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64url(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function register(publicRaw) {
  const r = await fetch("/supplier/keys", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf },
    body: JSON.stringify({ public_key: b64(publicRaw) }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const problems = (body.problems || []).map((p) => (p.field ? `${p.field}: ${p.message}` : p.message));
    throw new Error([body.detail || `HTTP ${r.status}`, ...problems].join("; "));
  }
  return body;
}

async function store(key, privateKey, publicKey, how) {
  await keep({
    key_id: key.key_id,
    supplier: session.supplier,
    public_key: key.public_key,
    private_key: privateKey,
    public_crypto_key: publicKey,
    how,
    stored_at: new Date().toISOString(),
  });
}

async function makeKey() {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  const key = await register(raw);
  await store(key, pair.privateKey, pair.publicKey, "made");
  return key;
}

function pemBytes(pem) {
  const m = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(pem);
  if (!m) throw new Error(words.bad_pem);
  try {
    return Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    throw new Error(words.bad_pem);
  }
}

async function importPem(pem) {
  const der = pemBytes(pem);
  let publicRaw;
  try {
    // Read once, extractable, only for its public half; that copy is dropped at once.
    const readable = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    publicRaw = unb64url((await crypto.subtle.exportKey("jwk", readable)).x);
  } catch {
    throw new Error(words.bad_pem);
  }
  const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  const publicKey = await crypto.subtle.importKey("raw", publicRaw, { name: "Ed25519" }, true, ["verify"]);
  const key = await register(publicRaw);
  await store(key, privateKey, publicKey, "imported");
  return key;
}

async function markDevice() {
  const local = await localKeys();
  const here = new Set(local.filter((k) => k.supplier === session.supplier).map((k) => k.key_id));
  for (const row of document.querySelectorAll("#keys tr[data-key]")) {
    const id = row.getAttribute("data-key");
    if (!here.has(id)) continue;
    if (row.getAttribute("data-revoked") === "true") {
      await forget(id); // a revoked key signs nothing more: drop it from this browser
      continue;
    }
    row.querySelector(".on-device").hidden = false;
    row.classList.add("this-device");
  }
  document.body.setAttribute("data-keys-ready", "true");
}

async function hasEd25519() {
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign"]);
    return true;
  } catch {
    return false;
  }
}

async function run(work, done) {
  say(words.working);
  try {
    const key = await work();
    say(done.replace("{key}", key.key_id), true);
    statusLine.setAttribute("data-key-id", key.key_id);
    setTimeout(() => location.reload(), 600); // the list shows the new key
  } catch (e) {
    say(words.failed.replace("{detail}", e.message), false);
  }
}

async function main() {
  if (!globalThis.crypto?.subtle || !(await hasEd25519())) {
    say(words.no_ed25519, false);
    document.getElementById("make-key").disabled = true;
    document.getElementById("import-key").disabled = true;
    return;
  }
  document.getElementById("make-key").addEventListener("click", () => run(makeKey, words.made));
  const pem = document.getElementById("pem");
  document.getElementById("pem-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (file) pem.value = await file.text();
  });
  document.getElementById("import-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run(() => importPem(pem.value), words.imported);
  });
  await markDevice();
}

main();

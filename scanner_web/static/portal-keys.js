// The supplier portal's "key on this device" page (/supplier/keys).
//
// Makes an Ed25519 key pair with WebCrypto (the private key non-extractable), keeps it in IndexedDB,
// and registers only the public half (POST /supplier/keys, which is the API's public-key route and
// writes the key-log record). Or imports a PKCS#8 PEM from `cradletrace supplier add`: it is read
// once as extractable only to learn its public half (JWK "x"), then imported again non-extractable,
// and only that copy is kept. Every POST carries the session's CSRF token in X-CSRF-Token.
//
// A key made here can be backed up once, before it is kept (docs/supplier-portal.md, "Key
// backups"): the pair is generated extractable, its PKCS#8 is encrypted under a passphrase the
// user types (PBKDF2-SHA-256 -> AES-256-GCM, WebCrypto only) into a small JSON envelope and
// downloaded; then the private key is imported again non-extractable, and only that copy is kept.
// The import form takes that envelope back (with its passphrase) as well as a PEM.

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

// The key-backup envelope (docs/supplier-portal.md): PKCS#8 under AES-256-GCM, its key from the
// passphrase by PBKDF2-SHA-256; the public key and key id ride along in clear to name the key.
const BACKUP_FORMAT = "cradletrace-key-backup";
const PBKDF2_ITERATIONS = 600000; // OWASP's 2023 figure for PBKDF2-HMAC-SHA256

async function passphraseKey(passphrase, salt, iterations, usage) {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

async function sealBackup(pkcs8, publicRaw, passphrase) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const aes = await passphraseKey(passphrase, salt, PBKDF2_ITERATIONS, "encrypt");
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, aes, pkcs8);
  const keyId = [...new Uint8Array(await crypto.subtle.digest("SHA-256", publicRaw))]
    .slice(0, 8)
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  return {
    format: BACKUP_FORMAT,
    version: 1,
    supplier: session.supplier,
    key_id: keyId,
    public_key: b64(publicRaw),
    kdf: { name: "PBKDF2", hash: "SHA-256", iterations: PBKDF2_ITERATIONS, salt: b64(salt) },
    cipher: { name: "AES-GCM", iv: b64(iv) },
    ciphertext: b64(sealed),
  };
}

async function openBackup(text, passphrase) {
  try {
    const e = JSON.parse(text);
    if (e.format !== BACKUP_FORMAT || e.version !== 1 || e.kdf.name !== "PBKDF2" || e.kdf.hash !== "SHA-256") throw 0;
    const aes = await passphraseKey(passphrase, unb64url(e.kdf.salt), e.kdf.iterations, "decrypt");
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64url(e.cipher.iv) }, aes, unb64url(e.ciphertext)));
  } catch {
    throw new Error(words.bad_backup);
  }
}

function download(name, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// Make a pair, offer the backup, and resolve once the user keeps the key: only then is the private
// key imported non-extractable, registered and stored; the extractable pair and its PKCS#8 are dropped.
function makeKey() {
  return new Promise((resolve, reject) => {
    (async () => {
      const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
      let pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
      const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
      const panel = document.getElementById("backup-panel");
      const pass = document.getElementById("backup-passphrase");
      const saved = document.getElementById("backup-status");
      panel.hidden = false;
      document.getElementById("make-key").disabled = true;
      say("");
      document.getElementById("backup-download").onclick = async () => {
        if (pass.value.length < 12) {
          saved.textContent = words.backup_short;
          return;
        }
        const envelope = await sealBackup(pkcs8, raw, pass.value);
        const name = `cradletrace-key-${session.supplier}-${envelope.key_id}.json`;
        download(name, JSON.stringify(envelope, null, 1) + "\n");
        saved.textContent = words.backup_downloaded.replace("{file}", name);
        saved.setAttribute("data-downloaded", "true");
      };
      document.getElementById("backup-keep").onclick = async () => {
        panel.hidden = true;
        pass.value = "";
        say(words.working);
        try {
          const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
          pkcs8.fill(0);
          pkcs8 = null;
          const key = await register(raw);
          await store(key, privateKey, pair.publicKey, "made");
          resolve(key);
        } catch (e) {
          reject(e);
        }
      };
    })().catch(reject);
  });
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

// A PEM, or a key-backup envelope (JSON) with its passphrase -> the PKCS#8 bytes.
async function keyBytes(text, passphrase) {
  return text.trim().startsWith("{") ? openBackup(text, passphrase) : pemBytes(text);
}

async function importKey(text, passphrase) {
  const der = await keyBytes(text, passphrase);
  let publicRaw;
  try {
    // Read once, extractable, only for its public half; that copy is dropped at once.
    const readable = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    publicRaw = unb64url((await crypto.subtle.exportKey("jwk", readable)).x);
  } catch {
    throw new Error(words.bad_pem);
  }
  const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  der.fill(0);
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
    run(() => importKey(pem.value, document.getElementById("import-passphrase").value), words.imported);
  });
  await markDevice();
}

main();

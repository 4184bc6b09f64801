// Checks one proof bundle (cradletrace-proof-bundle/2, docs/proof-bundle.md) in a browser: the
// same steps as `cradletrace verify-bundle` and tests/js/verify-bundle.mjs. Pure: no DOM. Used by
// the scan page (phonecheck.js, one bundle per record) and the self-contained verifier page
// (verify.html, built from this file by scripts/build-verify-page.mjs).
//
// checkBundle(value, urls, options) -> {state, step, reason, anchored, block, blockTime, chainId,
// contract, local, bytes (the signed bytes, once verified)}, never throws:
//   state "verified"    every step passed (anchored false: the bundle has no root yet, so only
//                       the offline steps ran and the chain was not asked);
//         "failed"      `step` failed: format (malformed; `reason` names the field), digest,
//                       bytes, supplier, signature, proof, chain, contract, root, leaves, disagree,
//                       key (the key's own records), revoked (the key was revoked before);
//         "unreachable" the chain could not be asked (step "rpc") or this browser lacks the
//                       cryptography (step "crypto"): never "failed".
// Steps: 1. SHA-256 of the signed bytes is the digest; 2. the bytes are a JSON event naming the
// bundle's supplier and key id (SHA-256 of the public key), and the Ed25519 signature over them
// verifies (as libsodium: canonical keys and R, S < L, no small-order key or R); 3. the
// Merkle proof leads from keccak256(keccak256(digest)) to the root (sorted pairs, as
// trace/core/merkle.py); 4. over JSON-RPC (at most two URLs asked, their answers compared)
// eth_chainId is the bundle's chain and anchorOf(root) on its contract holds the root with a
// non-zero block and submitter and the bundle's leaf count; 5. the key's own records (the bundle's
// "key": registration and revocation, each a bundle checked by steps 1-4, signed by the key log):
// the key was registered before the record's block and not revoked before it. `note` is
// "backfilled" when the key predates the key log (its registration was logged later; its own date
// is compared instead). A record an EPCIS capture request signed (its "signature" is the capture's
// reference, docs/proof-bundle.md "Captured events") gets step 2 from the bundle's "capture": the
// request's RFC 9421 signature base rebuilt and its Ed25519 signature checked as above; `note` is then
// "capture" ("unsigned" for a capture taken unsigned) unless "backfilled", and `notes` lists both.
// Ed25519 and SHA-256 come from WebCrypto where the browser has them, else (a plain-http page has
// no crypto.subtle at all) from the vendored @noble/ed25519 and @noble/hashes.
import { Point, verify as nobleVerify, hashes as nobleHashes } from "./vendor/noble-ed25519/index.js";
import { keccak_256 } from "./vendor/noble-hashes/sha3.js";

export const FORMAT = "cradletrace-proof-bundle/2";
const ANCHOR_OF = "cf4ff901"; // keccak256("anchorOf(bytes32)")[:4], docs/proof-bundle.md
const L = 2n ** 252n + 27742317777372353535851937790883648493n; // order of the Ed25519 base point

export class Failure extends Error {
  constructor(state, step, reason = step) {
    super(reason);
    this.state = state;
    this.step = step;
  }
}
const failed = (step, reason) => new Failure("failed", step, reason);
const unreachable = (step, reason) => new Failure("unreachable", step, reason);

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => Uint8Array.from(text.replace(/^0x/, "").match(/../g) || [], (h) => parseInt(h, 16));
const unbase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

// -- shape: every problem names its field -------------------------------------------------------

const HEX32 = /^(0x)?[0-9a-fA-F]{64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const shown = (v) => (JSON.stringify(v) ?? String(v)).slice(0, 60);

function need(ok, field, expected, got) {
  if (!ok) throw failed("format", `${field}: expected ${expected}${got === undefined ? ", got nothing" : `, got ${shown(got)}`}`);
}

function hex32(value, field) {
  need(typeof value === "string" && HEX32.test(value), field, "0x and 64 hex digits", value);
  return value.replace(/^0x/, "").toLowerCase();
}

function base64(value, field, length) {
  need(typeof value === "string" && BASE64.test(value), field, "standard base64 text", value);
  const raw = unbase64(value);
  need(length === undefined || raw.length === length, field, `${length} bytes once base64-decoded`, `${raw.length} bytes`);
  return raw;
}

/** The bundle's fields, decoded; Failure("format") naming the first bad field. ``key`` (the key's
 * own proofs, key transparency) is not read here. */
export function readBundle(value) {
  need(isObject(value), "bundle", "a JSON object", value);
  need(value.format === FORMAT, "format", `"${FORMAT}"`, value.format);
  need(isObject(value.supplier), "supplier", "a JSON object", value.supplier);
  need(isObject(value.chain), "chain", "a JSON object", value.chain);
  need(Array.isArray(value.proof), "proof", "a list of 0x and 64 hex digits", value.proof);
  const anchored = value.root !== null;
  need(anchored || value.leaf_count === null, "leaf_count", "null when root is null", value.leaf_count);
  need(!anchored || Number.isSafeInteger(value.leaf_count), "leaf_count", "an integer", value.leaf_count);
  const { chain_id: chainId, contract } = value.chain;
  need((!anchored && chainId === null) || Number.isSafeInteger(chainId), "chain.chain_id", "an integer", chainId);
  need((!anchored && contract === null) || (typeof contract === "string" && ADDRESS.test(contract)), "chain.contract", "0x and 40 hex digits", contract);
  need(typeof value.supplier.id === "string", "supplier.id", "a string", value.supplier.id);
  need(typeof value.supplier.key_id === "string", "supplier.key_id", "a string", value.supplier.key_id);
  need(value.supplier.public_key === null || typeof value.supplier.public_key === "string", "supplier.public_key", "base64 text", value.supplier.public_key);
  const ref = typeof value.signature === "string" ? CAPTURE_REF.exec(value.signature) : null;
  return {
    bytes: base64(value.bytes, "bytes"),
    digest: hex32(value.digest, "digest"),
    signature: ref ? null : base64(value.signature, "signature", 64),
    capture: ref ? readCapture(value.capture, ref) : null,
    supplierId: value.supplier.id,
    keyId: value.supplier.key_id,
    publicKey: value.supplier.public_key === null ? null : (base64(value.supplier.public_key, "supplier.public_key"), value.supplier.public_key),
    proof: value.proof.map((p, i) => hex32(p, `proof[${i}]`)),
    root: anchored ? hex32(value.root, "root") : null,
    leafCount: value.leaf_count,
    chainId,
    contract: contract === null ? null : contract.toLowerCase(),
    local: value.chain.local_development_chain === true,
  };
}

// -- records an EPCIS capture request signed (docs/proof-bundle.md "Captured events") ---------------

// The signature column of a record a capture stored: the capture's reference, not a signature.
const CAPTURE_REF = /^(unsigned:)?epcis-capture:(\d+)\/(\d+)$/;
const SF_KEY = "[a-z*][a-z0-9_\\-.*]*";

/** The bundle's ``capture`` of a record whose signature is capture ``ref``'s reference: which
 * capture and event, and (signed) the kept request material. Failure("format") naming the field. */
function readCapture(value, ref) {
  need(isObject(value), "capture", `the signature material of EPCIS capture ${ref[2]}'s request (the record's signature is its reference)`, value);
  const unsigned = ref[1] !== undefined;
  if (value.id !== Number(ref[2]) || value.event !== Number(ref[3]) || value.unsigned !== unsigned)
    throw failed("signature", `capture: expected capture ${ref[2]} event ${ref[3]}${unsigned ? " (unsigned)" : ""}, the record's reference; got ${shown([value.id, value.event, value.unsigned])}`);
  need(typeof value.supplier === "string", "capture.supplier", "a string", value.supplier);
  if (unsigned) return { id: value.id, event: value.event, unsigned, supplier: value.supplier };
  const m = value.signature;
  need(isObject(m) && isObject(m.headers), "capture.signature", "the kept request: method, target_uri, headers, keyid", m);
  need(typeof m.method === "string" && typeof m.target_uri === "string" && typeof m.keyid === "string", "capture.signature", "method, target_uri and keyid as strings", m);
  need(Object.values(m.headers).every((v) => typeof v === "string"), "capture.signature.headers", "header values as strings", m.headers);
  need(typeof value.public_key === "string", "capture.public_key", "base64 text", value.public_key);
  return { id: value.id, event: value.event, unsigned, supplier: value.supplier, publicKey: value.public_key, material: m };
}

/** The RFC 9421 signature base (section 2.5) of a kept capture request, and its signature's bytes:
 * each covered component's value from the kept material, then "@signature-params" (the
 * Signature-Input member re-serialized). What trace/epcis/httpsig.py checks with its library;
 * covered components with parameters (;sf, ;key, ...) are not rebuilt here: verify-bundle does. */
export function signatureBase(material) {
  const headers = Object.fromEntries(Object.entries(material.headers).map(([k, v]) => [k.toLowerCase(), v.trim()]));
  const bad = (why) => failed("signature", `capture.signature: ${why}`);
  const input = new RegExp(`^\\s*(${SF_KEY})=\\(([^()]*)\\)((?:;[^,]*)?)\\s*$`).exec(headers["signature-input"] || "");
  if (!input) throw bad("expected a Signature-Input of one signature: label=(components);params");
  const [, label, inner, rawParams] = input;
  const components = inner.trim() === "" ? [] : inner.trim().split(/\s+/);
  const names = components.map((c) => {
    const one = /^"([^"\\]*)"$/.exec(c);
    if (!one) throw bad(`the covered component ${shown(c)} has parameters; this phone rebuilds plain components only (cradletrace verify-bundle checks it)`);
    return one[1];
  });
  const params = [];
  const re = new RegExp(`;\\s*(${SF_KEY})(?:=("(?:[^"\\\\]|\\\\.)*"|-?\\d+|\\?[01]|[A-Za-z*][^;\\s]*))?`, "gy");
  let at = 0;
  for (let p; (p = re.exec(rawParams)); at = re.lastIndex) params.push([p[1], p[2] === "?1" ? undefined : p[2]]);
  if (at !== rawParams.length) throw bad(`expected parameters ;name=value, got ${shown(rawParams)}`);
  const param = (name) => params.find(([k]) => k === name)?.[1];
  if (param("keyid") !== `"${material.keyid}"`) throw bad(`expected keyid "${material.keyid}" in Signature-Input`);
  if (param("alg") !== undefined && param("alg") !== '"ed25519"') throw bad(`expected alg "ed25519", got ${param("alg")}`);
  const covered = new Set(names);
  const target = covered.has("@target-uri") || (covered.has("@authority") && covered.has("@path"));
  if (!["@method", "content-type", "content-digest"].every((n) => covered.has(n)) || !target)
    throw bad(`expected it to cover @method, the target, content-type and content-digest, got ${names.join(" ")}`);
  let url;
  try {
    url = new URL(material.target_uri);
  } catch {
    throw bad(`target_uri: expected an absolute URL, got ${shown(material.target_uri)}`);
  }
  const derived = {
    "@method": material.method.toUpperCase(),
    "@target-uri": material.target_uri,
    "@authority": url.host.toLowerCase(),
    "@scheme": url.protocol.replace(/:$/, "").toLowerCase(),
    "@path": url.pathname || "/",
    "@query": url.search || "?",
    "@request-target": `${url.pathname || "/"}${url.search}`,
  };
  const lines = names.map((n) => {
    const v = n.startsWith("@") ? derived[n] : headers[n];
    if (v === undefined) throw bad(`no value kept for the covered component "${n}"`);
    return `"${n}": ${v}`;
  });
  lines.push(`"@signature-params": (${components.join(" ")})${params.map(([k, v]) => (v === undefined ? `;${k}` : `;${k}=${v}`)).join("")}`);
  const sig = new RegExp(`^\\s*(${SF_KEY})=:([A-Za-z0-9+/=]*):\\s*$`).exec(headers.signature || "");
  if (!sig || sig[1] !== label) throw bad(`expected a Signature header ${label}=:base64:`);
  return { base: new TextEncoder().encode(lines.join("\n")), signature: base64(sig[2], "capture.signature.headers.signature", 64) };
}

/** Step 2 for a record a capture request signed: the request's signature (RFC 9421 base rebuilt,
 * Ed25519 as any record's) under the record's own key. Returns the note: "capture", or "unsigned"
 * for a capture taken unsigned (nothing to check: the record's integrity rests on its anchor). The
 * mapping of the request's event n to this record needs the body: cradletrace verify-bundle. */
async function checkCapture(b) {
  const c = b.capture;
  if (c.supplier !== b.supplierId) throw failed("signature", `capture.supplier: expected ${shown(b.supplierId)}, got ${shown(c.supplier)}`);
  if (c.unsigned) return "unsigned";
  if (c.publicKey !== b.publicKey || c.material.keyid !== b.keyId)
    throw failed("signature", `capture: expected the request signed by the record's own key ${b.keyId}, got key ${shown(c.material.keyid)}`);
  const { base, signature } = signatureBase(c.material);
  if (!(await signatureHolds(b.publicKey, signature, base)))
    throw failed("signature", `capture.signature: capture ${c.id}'s request signature does not verify under the supplier's key`);
  return "capture";
}

/** A bundle's JSON text (or bytes) parsed and read; Failure("format") when it is not JSON. */
export function parseBundle(text) {
  let value;
  try {
    value = JSON.parse(typeof text === "string" ? text : new TextDecoder().decode(text));
  } catch (err) {
    throw failed("format", `bundle: expected JSON text (${err.message})`);
  }
  return value;
}

// -- cryptography: WebCrypto, else the vendored noble libraries -----------------------------------

let fallback = null; // the @noble/hashes SHA-2 module, loaded once when WebCrypto lacks something

async function noble() {
  if (!fallback) {
    fallback = import("./vendor/noble-hashes/sha2.js").then((m) => {
      nobleHashes.sha512 = m.sha512;
      return m;
    });
  }
  return fallback;
}

/** SHA-256 of ``bytes``, by WebCrypto or @noble/hashes. */
export async function sha256(bytes) {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) {
    try {
      return new Uint8Array(await subtle.digest("SHA-256", bytes));
    } catch {
      // fall through to the library
    }
  }
  return (await noble()).sha256(bytes);
}

const keyState = new Map(); // public key (base64) -> {point, problem}: decoded and judged once per key

/** The key's point and why no signature can verify under it (as libsodium refuses it: a
 * non-canonical encoding, a point off the curve or of small order), or problem null. */
function keyPoint(pubText, pub) {
  if (!keyState.has(pubText)) {
    let point = null;
    let problem = null;
    try {
      point = Point.fromBytes(pub, false); // refuses non-canonical encodings and points off the curve
      if (point.isSmallOrder()) problem = "supplier.public_key: a point of small order";
    } catch {
      problem = "supplier.public_key: not a canonical Ed25519 point";
    }
    keyState.set(pubText, { point, problem });
  }
  return keyState.get(pubText);
}

function leNumber(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** Ed25519 over ``bytes`` as libsodium decides it: WebCrypto where it has Ed25519 (the same
 * cofactorless equation), else @noble/ed25519; the refusals libsodium adds are made here first. */
async function signatureHolds(pubText, signature, bytes) {
  const pub = unbase64(pubText);
  if (pub.length !== 32) return false;
  const key = keyPoint(pubText, pub);
  if (key.problem) return false;
  if (leNumber(signature.subarray(32)) >= L) return false; // S must be reduced
  let r;
  try {
    r = Point.fromBytes(signature.subarray(0, 32), false);
  } catch {
    return false;
  }
  if (r.isSmallOrder()) return false;
  const subtle = globalThis.crypto?.subtle;
  if (subtle) {
    let imported = null;
    try {
      imported = await subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (err) {
      if (err.name !== "NotSupportedError") return false; // else: no Ed25519 here, use the library
    }
    if (imported) {
      try {
        return await subtle.verify({ name: "Ed25519" }, imported, signature, bytes);
      } catch {
        return false;
      }
    }
  }
  try {
    await noble();
  } catch (err) {
    throw unreachable("crypto", `no Ed25519 in this browser and the fallback library did not load: ${err.message}`);
  }
  // The library's equation is cofactored, libsodium's is not: they agree when the key and R have no
  // small-order component (keys cradletrace registers never have one: signing.public_key_problem).
  key.torsionFree ??= key.point.isTorsionFree();
  return key.torsionFree && r.isTorsionFree() && nobleVerify(signature, bytes, pub, { zip215: false });
}

// -- the Merkle proof ------------------------------------------------------------------------------

function less(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/** The root the proof leads to from ``digest`` (hex): exactly trace/core/merkle.py. */
export function merkleRoot(digest, proof) {
  let node = keccak_256(keccak_256(unhex(digest)));
  for (const sibling of proof.map(unhex)) {
    const [a, b] = less(node, sibling) ? [node, sibling] : [sibling, node];
    const pair = new Uint8Array(64);
    pair.set(a);
    pair.set(b, 32);
    node = keccak_256(pair);
  }
  return hex(node);
}

/** Steps 1-3, no network. Returns the event read from the signed bytes. */
export async function checkOffline(b) {
  const hashed = hex(await sha256(b.bytes));
  if (hashed !== b.digest) throw failed("digest", `content changed: the bytes hash to 0x${hashed}, the digest is 0x${b.digest}`);
  let event;
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b.bytes));
  } catch {
    event = null;
  }
  if (!isObject(event)) throw failed("bytes", "bytes: the signed bytes are not a JSON object");
  if (event.supplier !== b.supplierId)
    throw failed("supplier", `supplier.id: expected the signed event's supplier ${shown(event.supplier)}, got ${shown(b.supplierId)}`);
  if (b.publicKey === null) throw failed("signature", "supplier.public_key: the supplier's key is missing");
  const id = hex(await sha256(unbase64(b.publicKey))).slice(0, 16);
  if (id !== b.keyId || event.key !== b.keyId)
    throw failed("signature", `supplier.key_id: expected ${id} (SHA-256 of the public key) and the event's key ${shown(event.key)}, got ${shown(b.keyId)}`);
  if (b.capture) b.note = await checkCapture(b);
  else if (!(await signatureHolds(b.publicKey, b.signature, b.bytes)))
    throw failed("signature", "signature: it does not verify over the bytes under the supplier's key");
  if (b.root !== null && merkleRoot(b.digest, b.proof) !== b.root)
    throw failed("proof", "proof: it does not lead from the digest's leaf to the root");
  return event;
}

// -- the chain ---------------------------------------------------------------------------------

async function rpc(url, method, params) {
  let reply;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(8000),
    });
    reply = await response.json();
  } catch {
    return null; // not reachable (or not JSON-RPC): the chain was not asked
  }
  return typeof reply?.result === "string" ? reply.result : null;
}

const asked = new Map(); // one question per (nodes, contract, root): records of a batch share it

/** What the chain says about ``rootHex`` at ``contract``: the same answer from every node that replied. */
function chainSays(urls, contract, rootHex) {
  const key = `${urls.join(" ")}|${contract}|${rootHex}`;
  if (!asked.has(key)) {
    const one = async (url) => {
      const chainId = await rpc(url, "eth_chainId", []);
      const out = await rpc(url, "eth_call", [{ to: contract, data: `0x${ANCHOR_OF}${rootHex}` }, "latest"]);
      return chainId === null || out === null || !/^0x[0-9a-fA-F]+$/.test(chainId) ? null : `${BigInt(chainId)} ${out.toLowerCase()}`;
    };
    asked.set(
      key,
      Promise.all(urls.map(one)).then((answers) => {
        const got = answers.filter((a) => a !== null);
        if (!got.length) throw unreachable("rpc", `no JSON-RPC answer from ${urls.join(", ") || "any node (none given)"}`);
        if (new Set(got).size > 1) throw failed("disagree", `the nodes ${urls.join(", ")} answer differently`);
        const [chainId, out] = got[0].split(" ");
        return { chainId, out };
      }),
    );
  }
  return asked.get(key);
}

/** Step 4: the root held on chain; the block (and its time) that anchored it. */
async function checkChain(b, urls) {
  const { chainId, out } = await chainSays(urls, b.contract, b.root);
  if (chainId !== String(b.chainId)) throw failed("chain", `chain.chain_id: expected ${b.chainId}, the node is chain id ${chainId}`);
  if (out === "0x") throw failed("contract", `chain.contract: expected the anchor contract at ${b.contract}, found no code there`);
  if (!/^0x[0-9a-f]{256}$/.test(out)) throw failed("root", `anchorOf at ${b.contract}: expected 4 words, got ${out.slice(0, 80)}`);
  const [block, time, leaves, submitter] = [0, 1, 2, 3].map((i) => BigInt(`0x${out.slice(2 + 64 * i, 66 + 64 * i)}`));
  if (block === 0n || submitter === 0n) throw failed("root", `root not on chain: contract ${b.contract} does not hold root 0x${b.root}`);
  if (leaves !== BigInt(b.leafCount)) throw failed("leaves", `leaf_count: the chain says ${leaves}, the bundle ${b.leafCount}`);
  return { block: Number(block), blockTime: new Date(Number(time) * 1000).toISOString().replace(".000Z", "Z") };
}

// -- step 5: the key's own records (key transparency) ---------------------------------------------

export const KEY_LOG = "cradletrace-key-log"; // the key log's signer (trace/keylog.py)

/** One of the key's own records (``value``: a bundle without "key"), checked like any record and
 * read: it must be the key log's record of ``action`` for the key that signed ``b``. Returns null
 * when there is none, else {anchored, block, blockTime, backfilled, at}. A record that fails
 * fails the outer one at step "key" (unreachable stays unreachable). */
async function keyRecord(value, field, action, b, urls) {
  if (value === null || value === undefined) return null;
  try {
    const k = readBundle(value);
    const event = await checkOffline(k);
    const data = isObject(event.data) ? event.data : {};
    const says = `the key log's record of ${action} for key ${b.keyId} of ${b.supplierId}`;
    if (event.kind !== "key" || k.supplierId !== KEY_LOG || data.action !== action)
      throw failed("key", `expected ${says}, got a ${shown(event.kind)} record of ${shown(k.supplierId)} (${shown(data.action)})`);
    if (data.supplier !== b.supplierId || data.key_id !== b.keyId || data.public_key !== b.publicKey)
      throw failed("key", `expected ${says}, got one for key ${shown(data.key_id)} of ${shown(data.supplier)}`);
    // Block times are whole seconds: a change within the block's second counts as before it.
    const out = { anchored: k.root !== null, backfilled: data.backfilled === true, at: Math.floor(Date.parse(data.at) / 1000) * 1000 };
    if (!out.anchored) return out;
    if (b.chainId !== null && (k.chainId !== b.chainId || k.contract !== b.contract))
      throw failed("key", `expected it on chain ${b.chainId} at ${b.contract}, got chain ${k.chainId} at ${k.contract}`);
    return { ...out, ...(await checkChain(k, urls)) };
  } catch (err) {
    const f = err instanceof Failure ? err : failed("format", String(err?.message ?? err));
    throw new Failure(f.state, f.state === "failed" ? "key" : f.step, `${field}: ${f.message}`);
  }
}

/** Step 5: the key that signed ``b`` was registered in the key log before ``b``'s root was anchored
 * (block ``at.block``; ``at`` null while ``b`` is not anchored) and not revoked before it. A record
 * the log wrote later for a key older than the log ("backfilled") proves nothing about earlier
 * blocks: its own date is compared instead, and a note says so. Returns {note}. */
async function checkKey(value, b, at, urls) {
  if (!isObject(value)) throw failed("key", "key: expected the key's own proofs (registration, revocation), got none");
  const reg = await keyRecord(value.registration, "key.registration", "register", b, urls);
  if (reg === null) throw failed("key", `key.registration: expected the key log's registration of key ${b.keyId}`);
  let note = "";
  if (at !== null) {
    const recordTime = Date.parse(at.blockTime);
    if (!reg.anchored) throw failed("key", `key.registration: not anchored, while the record is (block ${at.block})`);
    if (reg.block > at.block) {
      if (!reg.backfilled || !(reg.at <= recordTime))
        throw failed("key", `key.registration: key ${b.keyId} was logged in block ${reg.block}, after the record's block ${at.block}`);
      note = "backfilled";
    }
  }
  const rev = await keyRecord(value.revocation, "key.revocation", "revoke", b, urls);
  if (rev !== null && rev.anchored) {
    const before = at === null ? true : rev.backfilled ? rev.at < Date.parse(at.blockTime) : rev.block < at.block;
    if (before) throw failed("revoked", `key.revocation: key ${b.keyId} was revoked${at === null ? " and this record is not anchored yet" : ` before the record's block ${at.block}`}`);
  }
  return { note };
}

/** Check one bundle (a parsed JSON value) against the JSON-RPC ``urls`` (the first two are asked).
 * ``expect`` ({chainId, contract}): the chain the page states; a bundle naming another fails at
 * "chain". Never throws: see the top of this file for what comes back. */
export async function checkBundle(value, urls, { expect = null } = {}) {
  let b = null;
  try {
    b = readBundle(value);
    await checkOffline(b);
    const capture = b.capture ? { id: b.capture.id, event: b.capture.event } : null;
    const base = { state: "verified", step: "", chainId: b.chainId, contract: b.contract, local: b.local, bytes: b.bytes, capture };
    const noted = (note) => ({ note: note || b.note || "", notes: [b.note, note].filter(Boolean) });
    if (b.root === null) {
      const { note } = await checkKey(value.key, b, null, urls.slice(0, 2));
      return { ...base, anchored: false, ...noted(note), reason: "content and signature hold; not anchored yet, so the chain was not asked" };
    }
    if (expect && (String(b.chainId) !== String(expect.chainId) || b.contract !== String(expect.contract).toLowerCase()))
      throw failed("chain", `chain: expected chain ${expect.chainId} and contract ${expect.contract} (the page's), got ${b.chainId} and ${b.contract}`);
    const at = await checkChain(b, urls.slice(0, 2));
    const { note } = await checkKey(value.key, b, at, urls.slice(0, 2));
    return { ...base, anchored: true, ...at, ...noted(note), reason: `root 0x${b.root} anchored in block ${at.block} on chain ${b.chainId}` };
  } catch (err) {
    const f = err instanceof Failure ? err : failed("format", `bundle: ${err?.message ?? err}`);
    return { state: f.state, step: f.step, reason: f.message, anchored: b?.root != null, chainId: b?.chainId ?? null, contract: b?.contract ?? null, local: b?.local ?? false };
  }
}

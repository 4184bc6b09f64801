// An independent verifier of cradletrace proof bundles ("cradletrace-proof-bundle/2", and the
// older "/1").
//
// It imports nothing from cradletrace: node:crypto (SHA-256, Ed25519), the npm packages
// `canonicalize` (RFC 8785 JCS) and `@openzeppelin/merkle-tree` (StandardMerkleTree), and a
// raw JSON-RPC eth_call for the chain. It follows docs/proof-bundle.md, so that a second
// implementation checks the document as much as the bundles: where it disagrees with
// cradletrace's `verify_bundle`, one of the two (or the document) is wrong.
//
// usage:  node tests/js/verify-bundle.mjs BUNDLE.json [--rpc-url URL]    (BUNDLE "-" reads stdin)
// stdout: one JSON line {"ok": bool, "failed": step or null, "reason": text}; exit 0 when ok, else 1.
// Steps, in order: usage, format, bytes, digest, supplier, signature, proof, then "pending" when
// the bundle has no root yet (not anchored when exported: never ok), then with --rpc-url:
// rpc, chain_id, contract, root, leaf (the contract's own verifyLeaf); then for /2 the key's own
// records ("key": registration and revocation, each a bundle checked by the same steps): key (the
// key was not in the key log before the record's block), revoked (it was revoked before). Without
// --rpc-url the chain is not asked and "ok" only means the offline checks passed (the reason says so).

import { createHash, createPublicKey, verify as edVerify } from "node:crypto";
import { readFileSync } from "node:fs";

import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import canonicalize from "canonicalize";

const FORMAT_1 = "cradletrace-proof-bundle/1"; // the event as JSON; the bytes are its JCS form
const FORMAT = "cradletrace-proof-bundle/2"; // the signed bytes themselves, base64
// keccak256 of the signatures, first 4 bytes (docs/proof-bundle.md; a test recomputes them from the ABI).
const SELECTOR = { anchorOf: "cf4ff901", isAnchored: "4f0b5801", verifyLeaf: "d8e4a88a" };

class Failure extends Error {
  constructor(step, reason) {
    super(reason);
    this.step = step;
  }
}

const fail = (step, reason) => {
  throw new Failure(step, reason);
};

// -- shape -------------------------------------------------------------------------------------

const HEX32 = /^(0x)?[0-9a-fA-F]{64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** 32 bytes as lowercase hex without 0x; 0x is optional, as cradletrace reads it. */
function hex32(value, where) {
  if (typeof value !== "string" || !HEX32.test(value)) fail("format", `${where}: expected 0x and 64 hex digits`);
  return value.replace(/^0x/, "").toLowerCase();
}

function str(value, where) {
  if (typeof value !== "string") fail("format", `${where}: expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function int(value, where) {
  if (!Number.isSafeInteger(value)) fail("format", `${where}: expected an integer, got ${JSON.stringify(value)}`);
  return value;
}

function shape(b) {
  if (!isObject(b)) fail("format", "bundle: expected a JSON object");
  if (b.format !== FORMAT && b.format !== FORMAT_1)
    fail("format", `format: expected "${FORMAT}" or "${FORMAT_1}", got ${JSON.stringify(b.format)}`);
  const v1 = b.format === FORMAT_1;
  if (v1 && !isObject(b.event)) fail("format", "event: expected a JSON object");
  if (!v1 && !(typeof b.bytes === "string" && BASE64.test(b.bytes))) fail("format", "bytes: expected base64 text");
  if (!isObject(b.supplier)) fail("format", "supplier: expected a JSON object");
  if (!isObject(b.chain)) fail("format", "chain: expected a JSON object");
  if (!Array.isArray(b.proof)) fail("format", "proof: expected a list of 0x and 64 hex digits");
  const anchored = v1 || b.root !== null; // /2: root, leaf count, chain id and contract are null until anchored
  if (!anchored && b.leaf_count !== null) fail("format", "leaf_count: expected null when root is null");
  const contract = anchored || b.chain.contract !== null ? str(b.chain.contract, "chain.contract") : null;
  if (contract !== null && !/^0x[0-9a-fA-F]{40}$/.test(contract)) fail("format", "chain.contract: expected 0x and 40 hex digits");
  if (anchored) int(b.leaf_count, "leaf_count");
  return {
    event: v1 ? b.event : null,
    bytes: v1 ? null : Buffer.from(b.bytes, "base64"),
    digest: hex32(b.digest, "digest"),
    root: anchored ? hex32(b.root, "root") : null,
    proof: b.proof.map((p, i) => hex32(p, `proof[${i}]`)),
    signature: str(b.signature, "signature"),
    keyId: str(b.supplier.key_id, "supplier.key_id"),
    publicKey: str(b.supplier.public_key, "supplier.public_key"),
    supplierId: str(b.supplier.id, "supplier.id"),
    leafCount: b.leaf_count,
    chainId: anchored || b.chain.chain_id !== null ? int(b.chain.chain_id, "chain.chain_id") : null,
    contract: contract?.toLowerCase() ?? null,
  };
}

// -- offline checks ------------------------------------------------------------------------------

function canonicalBytes(event) {
  let text;
  try {
    text = canonicalize(event);
  } catch (err) {
    fail("bytes", `the event has no RFC 8785 canonical form: ${err.message}`);
  }
  if (canonicalize(JSON.parse(text)) !== text) fail("bytes", "the event's canonical bytes do not re-canonicalize to themselves");
  return Buffer.from(text, "utf8");
}

/** Strict base64 (standard alphabet, padded), as Python's b64decode(validate=True). */
function base64Strict(text, where, length) {
  if (!BASE64.test(text))
    fail("signature", `${where}: expected base64 text`);
  const raw = Buffer.from(text, "base64");
  if (raw.length !== length) fail("signature", `${where}: expected ${length} bytes once base64-decoded, got ${raw.length}`);
  return raw;
}

// Edwards25519 (RFC 8032 5.1), only to refuse what libsodium refuses and OpenSSL accepts:
// non-canonical public keys and small-order public keys or R values.
const P = 2n ** 255n - 19n;
const mod = (a) => ((a % P) + P) % P;
const pow = (b, e) => {
  let r = 1n;
  b = mod(b);
  for (; e > 0n; e >>= 1n, b = mod(b * b)) if (e & 1n) r = mod(r * b);
  return r;
};
const inv = (a) => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

function decodePoint(bytes) {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]);
  const sign = y >> 255n;
  y &= (1n << 255n) - 1n;
  if (y >= P) return "non-canonical";
  const x2 = mod((y * y - 1n) * inv(D * y * y + 1n));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x) !== x2) x = mod(x * SQRT_M1);
  if (mod(x * x) !== x2) return null;
  if (x === 0n && sign) return "non-canonical";
  if ((x & 1n) !== sign) x = P - x;
  return [x, y];
}

function smallOrder(point) {
  const add = ([x1, y1], [x2, y2]) => {
    const t = mod(D * x1 * x2 * y1 * y2);
    return [mod((x1 * y2 + x2 * y1) * inv(1n + t)), mod((y1 * y2 + x1 * x2) * inv(1n - t))];
  };
  let q = point;
  for (let i = 0; i < 3; i++) q = add(q, q);
  return q[0] === 0n && q[1] === 1n;
}

function checkSignature(s, bytes) {
  const pub = base64Strict(s.publicKey, "supplier.public_key", 32);
  const id = createHash("sha256").update(pub).digest("hex").slice(0, 16);
  if (id !== s.keyId) fail("signature", `supplier.key_id: expected ${id} (SHA-256 of the public key), got ${s.keyId}`);
  if (s.event.key !== s.keyId) fail("signature", `event.key: expected the supplier's key id ${s.keyId}, got ${JSON.stringify(s.event.key)}`);
  const sig = base64Strict(s.signature, "signature", 64);
  const a = decodePoint(pub);
  if (a === null || a === "non-canonical" || smallOrder(a))
    fail("signature", "supplier.public_key: expected a canonical Ed25519 point of large order");
  const r = decodePoint(sig.subarray(0, 32));
  if (Array.isArray(r) && smallOrder(r)) fail("signature", "signature: its R is a point of small order");
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: pub.toString("base64url") }, format: "jwk" });
  if (!edVerify(null, bytes, key, sig)) fail("signature", "the signature does not verify over the signed bytes");
}

/** The event the bytes are: /2 reads it from the signed bytes (strict UTF-8, one JSON object). */
function signedEvent(bytes) {
  let event;
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    fail("bytes", `bytes: expected the UTF-8 JSON text of an event: ${err.message}`);
  }
  if (!isObject(event)) fail("bytes", "bytes: expected the JSON text of an event (an object)");
  return event;
}

function offline(s) {
  const bytes = s.bytes ?? canonicalBytes(s.event);
  const hashed = createHash("sha256").update(bytes).digest("hex");
  if (hashed !== s.digest) fail("digest", `content changed: the signed bytes hash to 0x${hashed}, the bundle's digest is 0x${s.digest}`);
  s.event ??= signedEvent(bytes);
  if (s.bytes !== null && s.event.supplier !== s.supplierId) // /1 left supplier.id informational
    fail("supplier", `supplier.id: expected the signed event's supplier ${JSON.stringify(s.event.supplier)}, got ${JSON.stringify(s.supplierId)}`);
  checkSignature(s, bytes);
  if (s.root !== null && !StandardMerkleTree.verify(`0x${s.root}`, ["bytes32"], [`0x${s.digest}`], s.proof.map((p) => `0x${p}`)))
    fail("proof", "the proof does not lead from the digest's leaf to the root");
}

// -- on chain ------------------------------------------------------------------------------------

async function rpc(url, method, params) {
  let reply;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(10_000),
    });
    reply = await response.json();
  } catch (err) {
    fail("rpc", `${method} at ${url} failed: ${err.cause?.message ?? err.message}`);
  }
  if (!isObject(reply) || reply.error || typeof reply.result !== "string")
    fail("rpc", `${method} at ${url} failed: ${JSON.stringify(reply?.error ?? reply)}`);
  return reply.result;
}

/** A hex quantity or data word from the node as a BigInt; anything else is the node's fault. */
function quantity(hex, what) {
  if (!/^0x[0-9a-fA-F]+$/.test(hex)) fail("rpc", `${what}: expected hex from the node, got ${JSON.stringify(hex)}`);
  return BigInt(hex);
}

const word = (n) => n.toString(16).padStart(64, "0");
const call = (url, to, data) => rpc(url, "eth_call", [{ to, data: `0x${data}` }, "latest"]);

async function onChain(s, url) {
  const chainId = quantity(await rpc(url, "eth_chainId", []), "eth_chainId");
  if (chainId !== BigInt(s.chainId)) fail("chain_id", `expected chain id ${s.chainId} (the bundle's), the node at ${url} is chain id ${chainId}`);
  const code = await rpc(url, "eth_getCode", [s.contract, "latest"]);
  if (code === "0x") fail("contract", `expected the anchor contract at ${s.contract} (the bundle's), found no code there`);
  const out = await call(url, s.contract, SELECTOR.anchorOf + s.root);
  if (!/^0x[0-9a-fA-F]{256}$/.test(out)) fail("contract", `anchorOf at ${s.contract}: expected 4 words, got ${out}`);
  const [block, time, leaves] = [0, 1, 2].map((i) => BigInt(`0x${out.slice(2 + 64 * i, 2 + 64 * i + 64)}`));
  const held = quantity(await call(url, s.contract, SELECTOR.isAnchored + s.root), "isAnchored");
  if (block === 0n || held !== 1n) fail("root", `root not on chain: contract ${s.contract} does not hold root 0x${s.root}`);
  if (leaves !== BigInt(s.leafCount)) fail("root", `root on chain with ${leaves} leaves, the bundle says ${s.leafCount}`);
  const proof = word(BigInt(s.proof.length)) + s.proof.join("");
  const ok = quantity(await call(url, s.contract, SELECTOR.verifyLeaf + s.root + s.digest + word(0x60n) + proof), "verifyLeaf");
  if (ok !== 1n) fail("leaf", "the contract's verifyLeaf refuses the proof");
  return { block, time: Number(time) * 1000 };
}

// -- step 5: the key's own records (key transparency) -------------------------------------------

const KEY_LOG = "cradletrace-key-log";

/** One of the key's own records (a /2 bundle without "key"), checked by steps 1-4 and read; null
 * when absent. Any failure in it is a failure of step "key". */
async function keyRecord(value, where, action, s, url) {
  if (value === null || value === undefined) return null;
  try {
    if (!isObject(value) || value.format !== FORMAT) fail("format", `expected a "${FORMAT}" bundle`);
    const k = shape(value);
    offline(k);
    const d = isObject(k.event.data) ? k.event.data : {};
    if (k.event.kind !== "key" || k.supplierId !== KEY_LOG || d.action !== action)
      fail("key", `expected the key log's ${action} record, got a ${JSON.stringify(k.event.kind)} record of ${JSON.stringify(k.supplierId)}`);
    if (d.supplier !== s.supplierId || d.key_id !== s.keyId || d.public_key !== s.publicKey)
      fail("key", `expected a record about key ${s.keyId} of ${s.supplierId}, got key ${JSON.stringify(d.key_id)} of ${JSON.stringify(d.supplier)}`);
    const at = k.root === null || url === null ? null : await onChain(k, url);
    return { at, backfilled: d.backfilled === true, time: Math.floor(Date.parse(d.at) / 1000) * 1000 }; // block times are whole seconds
  } catch (err) {
    if (!(err instanceof Failure) || err.step === "rpc") throw err;
    fail("key", `${where}: ${err.message}`);
  }
}

/** The key that signed ``s`` was in the key log before ``s``'s root was anchored (``at``: its
 * block and time, or null when the chain was not asked) and not revoked before it. A registration
 * logged later for a key older than the log ("backfilled") is judged by its own date instead. */
async function keyStep(value, s, at, url) {
  if (!isObject(value)) fail("key", "key: expected the key's own proofs (registration, revocation)");
  const reg = await keyRecord(value.registration, "key.registration", "register", s, url);
  if (reg === null) fail("key", `key.registration: expected the key log's registration of key ${s.keyId}`);
  let note = "";
  if (at !== null && reg.at === null) fail("key", "key.registration: not anchored, while the record is");
  if (at !== null && reg.at.block > at.block) {
    if (!(reg.backfilled && reg.time <= at.time)) fail("key", `key ${s.keyId} was logged in block ${reg.at.block}, after the record's block ${at.block}`);
    note = "; the key predates the key log (its registration was logged later)";
  }
  const rev = await keyRecord(value.revocation, "key.revocation", "revoke", s, url);
  if (rev !== null && rev.at !== null && at !== null && (rev.backfilled ? rev.time < at.time : rev.at.block < at.block))
    fail("revoked", `key ${s.keyId} was revoked before the record's block ${at.block}`);
  return note;
}

// -- main ----------------------------------------------------------------------------------------

async function main(argv) {
  const args = [...argv];
  let url = null;
  const at = args.indexOf("--rpc-url");
  if (at >= 0) [, url] = args.splice(at, 2);
  if (args.length !== 1 || (at >= 0 && !url)) fail("usage", "usage: verify-bundle.mjs BUNDLE.json [--rpc-url URL]");
  let text;
  try {
    text = readFileSync(args[0] === "-" ? 0 : args[0], "utf8");
  } catch (err) {
    fail("usage", `cannot read ${args[0]}: ${err.message}`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail("format", `bundle: expected valid JSON: ${err.message}`);
  }
  const s = shape(value);
  offline(s);
  if (s.root === null) fail("pending", "not anchored yet: content and signature hold, but the bundle has no root to ask the chain about");
  const anchored = url === null ? null : await onChain(s, url);
  const note = s.bytes === null ? "" : await keyStep(value.key, s, anchored, url); // /1 carries no key proofs
  if (anchored === null) return `content, signature and proof hold; the chain was not asked (no --rpc-url)${note}`;
  return `content, signature and proof hold; root 0x${s.root} anchored in block ${anchored.block} on chain ${s.chainId}${note}`;
}

let result;
try {
  result = { ok: true, failed: null, reason: await main(process.argv.slice(2)) };
} catch (err) {
  if (!(err instanceof Failure)) throw err;
  result = { ok: false, failed: err.step, reason: err.message };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exitCode = result.ok ? 0 : 1;

// Checks every record of the scan page on the parent's phone, so the page's "verified" does not
// rest on the server's word alone (issue 14, steps 1-4; docs/proof-bundle.md; the same steps as
// tests/js/verify-bundle.mjs). Per record (the .badge carrying data-evidence):
//   1. SHA-256 of the signed bytes equals the digest (WebCrypto);
//   2. the Ed25519 signature over those bytes verifies under the supplier's key (WebCrypto);
//   3. the Merkle proof leads from the digest's leaf to the root (keccak256, sorted pairs, as
//      trace/core/merkle.py): leaf = keccak256(keccak256(digest));
//   4. over JSON-RPC (the page's data-rpc-urls, at most two asked; answers compared): eth_chainId
//      is the page's chain, and anchorOf(root) on the page's contract holds the root, with a
//      non-zero block and submitter and the record's leaf count.
// Records not yet anchored get steps 1-2 only. The result goes on the badge as data-phone-check:
// "verified", "failed" (which step, in data-phone-step) or "unreachable" (the chain could not be
// asked, or this browser lacks the cryptography: never "failed").
import { keccak_256 } from "./vendor/noble-hashes/sha3.js";
import { flagged } from "./facts.js";

const root = document.documentElement;
const strings = JSON.parse(document.getElementById("phone-strings")?.textContent || "{}");
const say = (key) => strings[key] || key;
const ANCHOR_OF = "cf4ff901"; // keccak256("anchorOf(bytes32)")[:4], docs/proof-bundle.md

class Failure extends Error {
  constructor(state, step) {
    super(step);
    this.state = state;
    this.step = step;
  }
}
const failed = (step) => new Failure("failed", step);
const unreachable = (step) => new Failure("unreachable", step);

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => Uint8Array.from(text.replace(/^0x/, "").match(/../g) || [], (h) => parseInt(h, 16));
const unbase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

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

async function offline(e) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw unreachable("crypto");
  const bytes = unbase64(e.bytes);
  if (hex(new Uint8Array(await subtle.digest("SHA-256", bytes))) !== e.digest) throw failed("digest");
  if (!e.public_key) throw failed("signature");
  let key;
  try {
    key = await subtle.importKey("raw", unbase64(e.public_key), { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    if (err.name === "NotSupportedError") throw unreachable("crypto");
    throw failed("signature");
  }
  let ok = false;
  try {
    ok = await subtle.verify({ name: "Ed25519" }, key, unbase64(e.signature), bytes);
  } catch {
    ok = false;
  }
  if (!ok) throw failed("signature");
  if (e.root !== undefined && merkleRoot(e.digest, e.proof) !== e.root) throw failed("proof");
}

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

const urls = (() => {
  try {
    return JSON.parse(root.dataset.rpcUrls || "[]").slice(0, 2);
  } catch {
    return [];
  }
})();
const asked = new Map(); // one question per root (records of a batch share it)

/** What the chain says about ``rootHex``: the same answer from every node that replied. */
function chainSays(rootHex) {
  if (!asked.has(rootHex)) {
    const one = async (url) => {
      const chainId = await rpc(url, "eth_chainId", []);
      const out = await rpc(url, "eth_call", [{ to: root.dataset.contract, data: `0x${ANCHOR_OF}${rootHex}` }, "latest"]);
      return chainId === null || out === null ? null : `${BigInt(chainId)} ${out.toLowerCase()}`;
    };
    asked.set(
      rootHex,
      Promise.all(urls.map(one)).then((answers) => {
        const got = answers.filter((a) => a !== null);
        if (!got.length) throw unreachable("rpc");
        if (new Set(got).size > 1) throw failed("disagree");
        const [chainId, out] = got[0].split(" ");
        return { chainId, out };
      }),
    );
  }
  return asked.get(rootHex);
}

async function onChain(e) {
  const { chainId, out } = await chainSays(e.root);
  if (chainId !== root.dataset.chainId) throw failed("chain");
  if (!/^0x[0-9a-f]{256}$/.test(out)) throw failed("root");
  const [block, , leaves, submitter] = [0, 1, 2, 3].map((i) => BigInt(`0x${out.slice(2 + 64 * i, 66 + 64 * i)}`));
  if (block === 0n || submitter === 0n) throw failed("root");
  if (leaves !== BigInt(e.leaf_count)) throw failed("leaves");
  return block;
}

async function check(badge) {
  badge.dataset.phoneCheck = "pending";
  const line = document.createElement("small");
  line.className = "phone-check";
  line.textContent = say("checking");
  badge.append(line);
  const by = document.createElement("small");
  by.className = "by";
  by.textContent = say("server");
  badge.prepend(by);
  let state;
  let text;
  try {
    const e = JSON.parse(badge.dataset.evidence);
    await offline(e);
    if (e.root === undefined) {
      [state, text] = ["verified", say("unanchored")];
    } else {
      const block = await onChain(e);
      const where = root.dataset.chainLocal === "true" ? say("local") : `${say("chain")} ${root.dataset.chainId}`;
      [state, text] = ["verified", `${say("verified")} (${say("block")} ${block}, ${where})`];
    }
    const wrong = flagged(badge, unbase64(e.bytes), strings); // step 6: the shown facts, from the verified bytes
    if (wrong) [state, text, badge.dataset.phoneStep] = ["failed", wrong, "shown"];
  } catch (err) {
    const f = err instanceof Failure ? err : failed("format");
    badge.dataset.phoneStep = f.step;
    state = f.state;
    text = f.state === "failed" ? `${say("failed")}: ${say(`step_${f.step}`)}` : `${say("unreachable")} (${say(`step_${f.step}`)})`;
  }
  badge.dataset.phoneCheck = state;
  line.textContent = `${state === "verified" ? "✓" : state === "failed" ? "✗" : "?"} ${text}`;
  return state;
}

const badges = Array.from(document.querySelectorAll(".badge[data-evidence]"));
const summary = document.getElementById("phone-summary");
const states = await Promise.all(badges.map(check));
const count = (s) => states.filter((x) => x === s).length;
summary.textContent = say("summary")
  .replace("{verified}", count("verified"))
  .replace("{total}", states.length)
  .replace("{failed}", count("failed"))
  .replace("{unreachable}", count("unreachable"));
summary.classList.add(count("failed") ? "alert" : count("unreachable") ? "some" : "ok");
summary.dataset.phoneCheck = count("failed") ? "failed" : count("unreachable") ? "unreachable" : "verified";
summary.hidden = false;

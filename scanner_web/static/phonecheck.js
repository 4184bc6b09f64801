// Checks every record of the scan page on the parent's phone, so the page's "verified" does not
// rest on the server's word alone (issue 14; docs/proof-bundle.md). Each record's .badge carries
// its proof bundle in data-evidence (base64 of the bundle's JSON); proofcheck.js checks it (the
// same steps as `cradletrace verify-bundle`) against the page's data-rpc-urls, and on the page's
// own chain and contract (data-chain-id, data-contract). This file only reads the page and writes
// the answers: data-phone-check "verified", "failed" (which step, in data-phone-step) or
// "unreachable" (the chain could not be asked, or this browser lacks the cryptography: never
// "failed"), a line per record and the summary at the top (zh or en, from #phone-strings).
// Records not yet anchored get the offline steps only. A record an EPCIS capture request signed says
// so (data-phone-note "capture"): its request's signature is checked here, the mapping of the
// request's event n to the record by cradletrace verify-bundle with the body. "Save proof" downloads the very bundle.
import { flagged } from "./facts.js";
import { checkBundle } from "./proofcheck.js";

const root = document.documentElement;
const strings = JSON.parse(document.getElementById("phone-strings")?.textContent || "{}");
const say = (key) => strings[key] || key;

const urls = (() => {
  try {
    return JSON.parse(root.dataset.rpcUrls || "[]");
  } catch {
    return [];
  }
})();
// Names of well-known public chains by chain id (EIP-155), for the parent's line; others show the id.
const CHAINS = { 1: "Ethereum", 10: "OP Mainnet", 137: "Polygon PoS", 8453: "Base", 42161: "Arbitrum One", 11155111: "Sepolia", 31337: "Hardhat/anvil (test)" };
const expect = { chainId: root.dataset.chainId, contract: root.dataset.contract };

/** The bundle's JSON text from data-evidence, or null when it is not base64 of UTF-8. */
function bundleText(badge) {
  try {
    const raw = Uint8Array.from(atob(badge.dataset.evidence), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return null;
  }
}

/** "Save proof": the record's bundle as a file, from this page's own bytes (a blob: URL). */
function offerSave(badge, text) {
  const link = badge.querySelector("a.save-proof");
  if (!link || text === null) return;
  link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  link.hidden = false;
}

/** The one place where a record's bytes are known verified on this phone (content and signature,
 * and once anchored, proof and root on chain): ``result.bytes`` are the signed bytes it checked.
 * A check that reads what was verified (the facts the parent reads, re-derived) starts here. */
function recordVerified(badge, result) {
  return flagged(badge, result.bytes, strings); // step 6: the shown facts, from the verified bytes
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
  const text = bundleText(badge);
  let value = null;
  try {
    value = text === null ? null : JSON.parse(text);
  } catch {
    value = null;
  }
  offerSave(badge, text);
  const result = await checkBundle(value, urls, { expect });
  let words;
  const wrong = result.state === "verified" ? recordVerified(badge, result) : null;
  if (wrong) Object.assign(result, { state: "failed", step: "shown", shown: wrong });
  if (result.state === "verified") {
    const id = root.dataset.chainId;
    const where = root.dataset.chainLocal === "true" ? say("local") : CHAINS[id] ? `${CHAINS[id]} (${say("chain")} ${id})` : `${say("chain")} ${id}`;
    const day = (result.blockTime || "").slice(0, 10);
    words = result.anchored ? `${say("verified")} (${say("block")} ${result.block}, ${day}, ${where})` : say("unanchored");
    const notes = result.notes || [];
    if (notes.includes("backfilled")) words += ` · ${say("key_backfilled")}`;
    if (notes.includes("capture")) words += ` · ${say("capture").replaceAll("{id}", result.capture.id).replaceAll("{n}", result.capture.event)}`;
    if (notes.includes("unsigned")) words += ` · ${say("capture_unsigned")}`;
    if (notes.length) badge.dataset.phoneNote = notes.join(" ");
  } else {
    badge.dataset.phoneStep = result.step;
    words = result.step === "shown" ? result.shown : result.state === "failed" ? `${say("failed")}: ${say(`step_${result.step}`)}` : `${say("unreachable")} (${say(`step_${result.step}`)})`;
  }
  badge.dataset.phoneCheck = result.state;
  line.textContent = `${result.state === "verified" ? "✓" : result.state === "failed" ? "✗" : "?"} ${words}`;
  return result.state;
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

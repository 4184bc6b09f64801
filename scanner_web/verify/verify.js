// The self-contained verifier page (scanner_web/static/verify.html, served at /verify): takes a
// proof bundle by file drop, file picker or paste, and checks it with proofcheck.js (the scan
// page's own steps) against the JSON-RPC URL the user gives. Bundled with everything it imports
// into one inline script by scripts/build-verify-page.mjs, so the page works from file:// too.
// The answer goes on #result as data-verify: verified, unanchored (steps 1-2 only: the bundle has
// no root yet), failed, unreachable or malformed (the bundle cannot be read: the detail names the
// field), with data-step naming the step that did not pass.
import { checkBundle, parseBundle, Failure } from "../static/proofcheck.js";

const $ = (id) => document.getElementById(id);
const all = JSON.parse($("strings").textContent);
const wanted = new URLSearchParams(location.search).get("lang");
let lang = wanted === "en" || wanted === "zh" ? wanted : (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
const say = (key) => all[lang][key] ?? all.en[key] ?? key;
let last = null; // the last answer, redrawn when the language changes

function words() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `cradletrace · ${say("verify_title")}`;
  $("title").textContent = say("verify_title");
  $("lang").textContent = lang === "zh" ? "English" : "中文";
  $("intro").textContent = say("verify_intro");
  $("rpc-label").textContent = say("verify_rpc");
  $("file-label").textContent = say("verify_file");
  $("paste-label").textContent = say("verify_paste");
  $("check").textContent = say("verify_check");
  if (last) show(last);
}

/** The RPC URLs typed (or prefilled from the serving page's config), resolved against the page. */
function rpcUrls() {
  return $("rpc")
    .value.split(/[\s,]+/)
    .filter(Boolean)
    .map((u) => {
      try {
        return new URL(u, location.href).href;
      } catch {
        return u;
      }
    });
}

function show(result) {
  last = result;
  const box = $("result");
  const malformed = result.state === "failed" && result.step === "format";
  const state = result.state === "pending" ? "pending" : malformed ? "malformed" : result.state === "verified" && !result.anchored ? "unanchored" : result.state;
  box.dataset.verify = state;
  box.dataset.step = result.step || "";
  let text;
  if (state === "pending") text = say("verify_checking");
  else if (state === "verified")
    text = say("verify_verified").replace("{chain}", result.chainId).replace("{block}", result.block).replace("{time}", result.blockTime);
  else if (state === "unanchored") text = say("verify_unanchored");
  else if (state === "malformed") text = say("verify_malformed");
  else text = `${say(state === "failed" ? "verify_failed" : "verify_unreachable")}: ${say(`phone_step_${result.step}`)}`;
  if (result.note === "backfilled" && (state === "verified" || state === "unanchored")) text += ` · ${say("phone_key_backfilled")}`;
  $("verdict").textContent = `${state === "verified" ? "✓" : state === "failed" || state === "malformed" ? "✗" : "?"} ${text}`;
  $("local").hidden = !(result.local && (state === "verified" || state === "unanchored"));
  $("local").textContent = say("verify_local");
  $("detail").textContent = result.reason ? `${say("verify_detail")}: ${result.reason}` : "";
  box.hidden = false;
}

async function check(text) {
  show({ state: "pending" });
  let value;
  try {
    value = parseBundle(text);
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    show({ state: err.state, step: err.step, reason: err.message });
    return;
  }
  show(await checkBundle(value, rpcUrls()));
}

async function take(file) {
  if (!file) return;
  const text = await file.text();
  $("paste").value = text;
  await check(text);
}

try {
  const urls = JSON.parse(document.documentElement.dataset.rpcUrls || "[]");
  if (Array.isArray(urls) && location.protocol !== "file:") $("rpc").value = urls.slice(0, 2).map((u) => new URL(u, location.href).href).join(" ");
} catch {
  // no prefill: the user types an endpoint
}
words();
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  words();
});
$("check").addEventListener("click", () => check($("paste").value));
$("file").addEventListener("change", (e) => take(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  take(e.dataTransfer.files[0]);
});
document.documentElement.dataset.ready = "true";

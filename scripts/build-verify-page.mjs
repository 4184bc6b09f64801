#!/usr/bin/env node
// Build scanner_web/static/verify.html: the self-contained proof-bundle verifier page, ONE file
// with its script, style and strings inline, so it works from file:// with no server of ours
// (and is served at /verify with a CSP naming that script by its SHA-256).
//
// The script is scanner_web/verify/verify.js with everything it imports (scanner_web/static/
// proofcheck.js, the vendored @noble/ed25519 and @noble/hashes) bundled by esbuild (pinned in
// package.json) into one minified IIFE; the zh/en strings are scanner_web/i18n.json's verify_*
// and phone_step_* keys and phone_key_backfilled; the licences of the bundled libraries follow in an HTML comment.
// The page is committed; tests/test_verify_page.py runs --check so a stale copy fails.
// Usage: node scripts/build-verify-page.mjs [--check]
//   --check  exit 1 if the committed page differs from a fresh build, without writing.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = "scanner_web/verify";
const OUT = "scanner_web/static/verify.html";
const LICENCES = [
  ["@noble/ed25519", "scanner_web/static/vendor/noble-ed25519/LICENSE"],
  ["@noble/hashes", "scanner_web/static/vendor/noble-hashes/LICENSE"],
];

const read = (path) => readFileSync(join(ROOT, path), "utf8");

async function script() {
  const out = await build({
    entryPoints: [join(ROOT, SOURCE, "verify.js")],
    bundle: true,
    format: "iife",
    minify: true,
    target: "es2020",
    legalComments: "none", // the licences are in the page, whole, below
    charset: "utf8",
    write: false,
    logLevel: "silent",
  });
  const code = out.outputFiles[0].text.trim();
  if (/<\/script|<!--/i.test(code)) throw new Error("the bundled script holds </script or <!--, which would end it inside HTML");
  return code;
}

function strings() {
  const all = JSON.parse(read("scanner_web/i18n.json"));
  const pick = (t) => Object.fromEntries(Object.entries(t).filter(([k]) => k.startsWith("verify_") || k.startsWith("phone_step_") || k === "phone_key_backfilled"));
  return JSON.stringify({ zh: pick(all.zh), en: pick(all.en) }).replace(/</g, "\\u003c");
}

function licences() {
  const pinned = JSON.parse(read("package.json")).devDependencies;
  const parts = LICENCES.map(([name, file]) => `${name} ${pinned[name]}:\n\n${read(file).trim()}`);
  return `<!-- Bundled libraries and their licences\n\n${parts.join("\n\n").replace(/--/g, "- -")}\n-->`;
}

async function main(argv) {
  const check = argv.includes("--check");
  const code = await script(); // inserted by a function: a "$`" or "$'" in it is no replacement pattern
  const page = read(`${SOURCE}/template.html`)
    .replace("/*STYLE*/", () => read(`${SOURCE}/verify.css`).trim())
    .replace("/*STRINGS*/", strings)
    .replace("<!--LICENCES-->", licences)
    .replace("/*SCRIPT*/", () => code);
  const dest = join(ROOT, OUT);
  const same = existsSync(dest) && readFileSync(dest, "utf8") === page;
  if (check) {
    if (!same) {
      process.stderr.write(`${OUT} is stale: run node scripts/build-verify-page.mjs\n`);
      return 1;
    }
    process.stdout.write(`checked ${OUT}\n`);
    return 0;
  }
  if (!same) writeFileSync(dest, page);
  process.stdout.write(`${same ? "unchanged" : "built"} ${OUT} (${Buffer.byteLength(page)} bytes)\n`);
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`build-verify-page: ${err.message}\n`);
  process.exitCode = 1;
}

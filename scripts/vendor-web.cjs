#!/usr/bin/env node
// Copy the browser files the web pages use from node_modules into scanner_web/static/vendor/.
//
// The copies are committed, so the Python package serves them without Node and the pages never
// load anything from a CDN: jsQR decodes camera frames on /scan, Swagger UI renders /docs,
// @noble/ed25519 and @noble/hashes (ES modules, relative imports only) check proofs on the phone,
// canonicalize (an ES module importing nothing) writes an event's RFC 8785 bytes (canonical.js).
// Usage: node scripts/vendor-web.cjs [--check | --list]
//   --check  exit 1 if a committed copy (or the README) differs from node_modules, without writing.
//   --list   print the [source, destination] pairs as JSON (the test compares them byte for byte).
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const VENDOR = "scanner_web/static/vendor";

// package -> [file in the package, path under VENDOR, what it is]
const PACKAGES = {
  "@noble/ed25519": {
    use: "Ed25519 (its strict key and R checks always; its verify where WebCrypto lacks Ed25519) for the checks on the phone and the verifier page (proofcheck.js)",
    files: [
      ["index.js", "noble-ed25519/index.js"],
      ["LICENSE", "noble-ed25519/LICENSE"],
    ],
  },
  "@noble/hashes": {
    use: "keccak-256 for Merkle proofs; SHA-256 and SHA-512 where WebCrypto is missing (a plain-http page) (proofcheck.js)",
    files: [
      ["sha3.js", "noble-hashes/sha3.js"],
      ["sha2.js", "noble-hashes/sha2.js"],
      ["_md.js", "noble-hashes/_md.js"],
      ["_u64.js", "noble-hashes/_u64.js"],
      ["utils.js", "noble-hashes/utils.js"],
      ["LICENSE", "noble-hashes/LICENSE"],
    ],
  },
  canonicalize: {
    use: "RFC 8785 (JCS) canonical JSON of an event, for a supplier's browser to sign (canonical.js checks the value first)",
    files: [
      ["lib/canonicalize.js", "canonicalize/canonicalize.js"],
      ["LICENSE", "canonicalize/LICENSE"],
    ],
  },
  jsqr: {
    use: "QR decoder for the camera scanner page (/scan)",
    files: [
      ["dist/jsQR.js", "jsqr/jsQR.js"],
      ["LICENSE", "jsqr/LICENSE"],
    ],
  },
  "swagger-ui-dist": {
    use: "Swagger UI for the API documentation page (/docs)",
    files: [
      ["swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"],
      ["swagger-ui-bundle.js.LICENSE.txt", "swagger-ui/swagger-ui-bundle.js.LICENSE.txt"],
      ["swagger-ui.css", "swagger-ui/swagger-ui.css"],
      ["favicon-32x32.png", "swagger-ui/favicon-32x32.png"],
      ["LICENSE", "swagger-ui/LICENSE"],
      ["NOTICE", "swagger-ui/NOTICE"],
    ],
  },
};

function packageJson(name) {
  const file = path.join(ROOT, "node_modules", name, "package.json");
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: run scripts/setup-node`);
  }
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

function pairs() {
  const out = [];
  for (const [name, spec] of Object.entries(PACKAGES)) {
    for (const [from, to] of spec.files) {
      out.push([`node_modules/${name}/${from}`, `${VENDOR}/${to}`]);
    }
  }
  return out;
}

function readme() {
  const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).devDependencies;
  const lines = [
    "# Vendored browser files",
    "",
    "Copied from npm packages by `node scripts/vendor-web.cjs` (after `bash scripts/setup-node`);",
    "do not edit by hand. They are committed so the Python package serves them without Node, and",
    "no page loads anything from a CDN. `tests/test_vendor_web.py` checks they match node_modules.",
    "",
    "| package | version | licence | used for | files |",
    "|---|---|---|---|---|",
  ];
  for (const [name, spec] of Object.entries(PACKAGES)) {
    const pkg = packageJson(name);
    if (pinned[name] !== pkg.version) {
      throw new Error(`package.json pins ${name} ${pinned[name]}, node_modules has ${pkg.version}: run scripts/setup-node`);
    }
    const files = spec.files.map(([, to]) => "`" + to + "`").join(", ");
    lines.push(`| [${name}](https://www.npmjs.com/package/${name}) | ${pkg.version} | ${pkg.license} | ${spec.use} | ${files} |`);
  }
  lines.push("", "Each licence file sits next to the files it covers.", "");
  return lines.join("\n");
}

function main(argv) {
  const check = argv.includes("--check");
  if (argv.includes("--list")) {
    process.stdout.write(JSON.stringify(pairs()) + "\n");
    return 0;
  }
  const wanted = pairs().map(([from, to]) => [to, fs.readFileSync(path.join(ROOT, from))]);
  wanted.push([`${VENDOR}/README.md`, Buffer.from(readme(), "utf8")]);
  const stale = [];
  for (const [to, bytes] of wanted) {
    const dest = path.join(ROOT, to);
    const same = fs.existsSync(dest) && fs.readFileSync(dest).equals(bytes);
    if (same) continue;
    stale.push(to);
    if (!check) {
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, bytes);
    }
  }
  if (check && stale.length) {
    process.stderr.write(`stale vendored files (run node scripts/vendor-web.cjs): ${stale.join(", ")}\n`);
    return 1;
  }
  process.stdout.write(`${check ? "checked" : "vendored"} ${wanted.length} files in ${VENDOR}` +
                       `${!check && stale.length ? ` (${stale.length} updated)` : ""}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`vendor-web: ${err.message}\n`);
  process.exitCode = 1;
}

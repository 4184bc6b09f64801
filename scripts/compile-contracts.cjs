#!/usr/bin/env node
// Compile contracts/TraceAnchor.sol with solc-js into trace/contracts/TraceAnchor.json.
//
// The Python package loads that JSON so it never needs Node at run time. Source names given to
// solc are repository-relative ("contracts/...", "@openzeppelin/contracts/...") so the metadata
// hash, and hence the bytecode, is the same in any checkout directory.
// Usage: node scripts/compile-contracts.cjs [--check]
//   --check  compile and exit 1 if the committed artifact differs (stale), without writing.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

// Shared with hardhat.config.js, so both toolchains compile with the same settings.
const SOLC_VERSION = "0.8.37";
const SOLC_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
};

const ROOT = path.resolve(__dirname, "..");
const CONTRACT = "TraceAnchor";
const SOURCE = `contracts/${CONTRACT}.sol`;
const ARTIFACT = `trace/contracts/${CONTRACT}.json`;
const OZ_PREFIX = "@openzeppelin/contracts/";

function resolveSource(sourceName) {
  if (sourceName.startsWith(OZ_PREFIX)) {
    return path.join(ROOT, "node_modules", sourceName);
  }
  if (sourceName.startsWith("contracts/")) {
    return path.join(ROOT, sourceName);
  }
  return null;
}

function findImports(sourceName) {
  const file = resolveSource(sourceName);
  if (file === null) {
    return { error: `import ${sourceName}: expected a path under contracts/ or ${OZ_PREFIX}` };
  }
  try {
    return { contents: fs.readFileSync(file, "utf8") };
  } catch (err) {
    return { error: `import ${sourceName}: cannot read ${file}: ${err.message}` };
  }
}

function compile() {
  const solc = require("solc");
  const version = solc.version();
  if (!version.startsWith(`${SOLC_VERSION}+`)) {
    throw new Error(`expected solc ${SOLC_VERSION}, node_modules has ${version}: run scripts/setup-node`);
  }
  const input = {
    language: "Solidity",
    sources: { [SOURCE]: { content: fs.readFileSync(path.join(ROOT, SOURCE), "utf8") } },
    settings: {
      ...SOLC_SETTINGS,
      outputSelection: {
        "*": { "*": [] },
        [SOURCE]: { [CONTRACT]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const diagnostics = output.errors ?? [];
  for (const d of diagnostics) {
    process.stderr.write(d.formattedMessage ?? `${d.severity}: ${d.message}\n`);
  }
  if (diagnostics.some((d) => d.severity === "error")) {
    throw new Error(`solc reported errors compiling ${SOURCE}`);
  }
  const contract = output.contracts[SOURCE][CONTRACT];
  const sources = {};
  for (const name of Object.keys(output.sources).sort()) {
    const content = fs.readFileSync(resolveSource(name));
    sources[name] = crypto.createHash("sha256").update(content).digest("hex");
  }
  return {
    contractName: CONTRACT,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    compiler: { version, settings: SOLC_SETTINGS },
    sources,
  };
}

function main(argv) {
  const check = argv.includes("--check");
  const unknown = argv.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    process.stderr.write(`usage: node scripts/compile-contracts.cjs [--check] (got ${unknown.join(" ")})\n`);
    return 2;
  }
  const text = `${JSON.stringify(compile(), null, 2)}\n`;
  const target = path.join(ROOT, ARTIFACT);
  if (check) {
    const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
    if (current !== text) {
      const why = current === null ? "is missing" : "is stale (differs from a fresh compile)";
      process.stderr.write(`${ARTIFACT} ${why}: run \`node scripts/compile-contracts.cjs\` and commit it\n`);
      return 1;
    }
    process.stdout.write(`${ARTIFACT} is up to date\n`);
    return 0;
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, text);
  process.stdout.write(`wrote ${ARTIFACT}\n`);
  return 0;
}

module.exports = { SOLC_VERSION, SOLC_SETTINGS };

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`compile-contracts: ${err.message}\n`);
    process.exitCode = 1;
  }
}

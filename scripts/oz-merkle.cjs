#!/usr/bin/env node
// Build an OpenZeppelin StandardMerkleTree over bytes32 values, as an independent reference.
//
// Python tests cross-check cradletrace's own Merkle code against this.
// stdin:  {"values": ["0x<64 hex>", ...]}
// stdout: {"root": "0x..", "proofs": [[...], ...]}  (proofs in input order)
"use strict";

const fs = require("node:fs");
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

function fail(message) {
  process.stderr.write(`oz-merkle: ${message}\n`);
  process.exit(2);
}

let request;
try {
  request = JSON.parse(fs.readFileSync(0, "utf8"));
} catch (err) {
  fail(`stdin is not JSON: ${err.message}`);
}
const values = request?.values;
if (!Array.isArray(values) || values.length === 0) {
  fail('expected {"values": [...]} with at least one value');
}
values.forEach((v, i) => {
  if (typeof v !== "string" || !BYTES32.test(v)) {
    fail(`values[${i}]: expected "0x" and 64 hex digits, got ${JSON.stringify(v)}`);
  }
});

const tree = StandardMerkleTree.of(values.map((v) => [v]), ["bytes32"]);
const proofs = new Array(values.length);
for (const [index] of tree.entries()) {
  proofs[index] = tree.getProof(index);
}
process.stdout.write(`${JSON.stringify({ root: tree.root, proofs })}\n`);

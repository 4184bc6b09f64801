// Hardhat 3 configuration: compiles with the solc-js in node_modules, never downloads a compiler.
//
// Compiler version and settings come from scripts/compile-contracts.cjs, which also writes the
// artifact the Python package uses, so tests here run the same bytecode settings.
import path from "node:path";

import { defineConfig } from "hardhat/config";

import { SOLC_SETTINGS, SOLC_VERSION } from "./scripts/compile-contracts.cjs";

const solc = {
  version: SOLC_VERSION,
  // Hardhat requires an absolute path for a local compiler.
  path: path.join(import.meta.dirname, "node_modules", "solc", "soljson.js"),
  settings: SOLC_SETTINGS,
};

export default defineConfig({
  solidity: {
    // Settings only apply through profiles; the single-version shorthand drops them.
    profiles: {
      default: solc,
      production: solc,
    },
  },
  paths: {
    sources: "contracts",
    tests: { solidity: "contracts/test" },
  },
});

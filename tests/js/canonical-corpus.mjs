// Runs scanner_web/static/canonical.js over the shared corpus (tests/vectors/canonical-corpus.json)
// and over values JSON text cannot carry; tests/test_canonical_js.py compares the answers with
// canonical.py's. The same function runs in Node (this file as a script: prints the answers as
// JSON) and in Chromium (imported by a page of the app, handed the module and the corpus).

// [name, value, the path canonical.js must name]: refused, as canonical.py refuses their like.
function unrepresentable() {
  const sparse = [1, , 3]; // a hole at [1]
  const deep = [];
  let inner = deep;
  for (let i = 0; i < 32; i++) inner = inner[0] = [];
  class Reading {
    constructor() {
      this.c = 4;
    }
  }
  return [
    ["nan", { data: { readings: [{ c: 4.1 }, { c: NaN }] } }, "data.readings[1].c"],
    ["infinity", { quantity: Infinity }, "quantity"],
    ["minus-infinity", [-Infinity], "[0]"],
    ["nan-alone", NaN, ""],
    ["bigint", { quantity: 2n ** 64n }, "quantity"],
    ["undefined-member", { data: { lot: undefined } }, "data.lot"],
    ["undefined-item", [undefined], "[0]"],
    ["function", { f() {} }, "f"],
    ["symbol", { s: Symbol("s") }, "s"],
    ["symbol-key", { [Symbol("k")]: 1 }, ""],
    ["date", { at: new Date(0) }, "at"],
    ["map", { m: new Map() }, "m"],
    ["class-instance", { readings: [new Reading()] }, "readings[0]"],
    ["to-json", { at: { toJSON: () => "x" } }, "at"],
    ["sparse-array", { serials: sparse }, "serials[1]"],
    ["lone-surrogate-string", { "a.b": ["\ud800"] }, '["a.b"][0]'],
    ["lone-surrogate-key", { "\udfff": 1 }, '["\\udfff"]'],
    ["too-deep", deep, "[0]".repeat(32)],
  ];
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function attempt(canonical, value) {
  try {
    const bytes = canonical.canonicalBytes(value);
    if (!(bytes instanceof Uint8Array)) return { error: "canonicalBytes did not return a Uint8Array" };
    return { hex: hex(bytes) };
  } catch (err) {
    return { error: String(err.message), where: err.where ?? null, kind: err.name };
  }
}

// canonical: the module canonical.js; corpus: the parsed corpus file.
export function run(canonical, corpus) {
  const each = (doc) => ({ name: doc.name, ...attempt(canonical, JSON.parse(doc.input)) });
  return {
    documents: corpus.documents.map(each),
    refused: corpus.refused.map(each),
    unrepresentable: unrepresentable().map(([name, value, where]) => ({ name, expected: where, ...attempt(canonical, value) })),
  };
}

if (typeof process !== "undefined" && import.meta.url === (await import("node:url")).pathToFileURL(process.argv[1]).href) {
  const { readFileSync } = await import("node:fs");
  const root = new URL("../../", import.meta.url);
  const canonical = await import(new URL("scanner_web/static/canonical.js", root));
  const corpus = JSON.parse(readFileSync(new URL("tests/vectors/canonical-corpus.json", root), "utf8"));
  process.stdout.write(JSON.stringify(run(canonical, corpus)) + "\n");
}

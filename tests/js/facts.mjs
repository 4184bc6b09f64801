// Runs scanner_web/static/facts.js (the phone's step 6) in Node on cases given as JSON on stdin:
// [{"event": "<the signed bytes, as text>", "path": "...", "as": "...", "words": {...}}, ...].
// Prints one JSON line: the text facts.js derives for each case (null where it derives none), for
// tests/test_phone_facts.py to compare with what scanner_web/facts.py renders on the page.
import { readFileSync } from "node:fs";

import { derive } from "../../scanner_web/static/facts.js";

const cases = JSON.parse(readFileSync(0, "utf8"));
const bytes = new Map(); // one parse per event, as on the page
const out = cases.map(({ event, path, as, words }) => {
  if (!bytes.has(event)) bytes.set(event, JSON.parse(new TextDecoder().decode(new TextEncoder().encode(event))));
  return derive(bytes.get(event).data, path, as, words);
});
process.stdout.write(`${JSON.stringify(out)}\n`);

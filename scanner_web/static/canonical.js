// The canonical bytes of an event in the browser, exactly as trace/core/canonical.py writes them
// (RFC 8785, JCS), so that a supplier's browser signs the very bytes the server hashes and checks.
// Pure: no DOM, no network. Tested byte for byte against canonical.py over
// tests/vectors/canonical-corpus.json, in Node and in Chromium (tests/test_canonical_js.py).
//
// canonicalBytes(value) -> Uint8Array, the UTF-8 of the JCS text of `value`.
// The vendored npm `canonicalize` writes the text (JSON.stringify numbers, keys sorted by UTF-16
// code unit). It quietly drops or rewrites what JSON cannot hold (undefined, functions, toJSON,
// Date, sparse arrays), where canonical.py refuses; so the value is checked first, and anything
// canonical.py would refuse throws a CanonicalError whose `where` names the bad value's path
// (`data.readings[3].c`; "" for the value itself) and whose message says what was expected:
//   - NaN and ±Infinity (canonical.py: "expected a finite number");
//   - a string or key holding a lone surrogate ("expected valid Unicode text");
//   - more than MAX_DEPTH levels of nested objects and arrays;
//   - BigInt, undefined, functions, symbols, empty array slots, and objects other than plain
//     objects and arrays (a Date, a Map, a class instance), which are not JSON values.
// Every finite Number is accepted, as canonical.py accepts every finite float: JavaScript has no
// integers apart from doubles, and canonical.py's parse_json reads an integer beyond 2^53 as the
// double JSON.parse makes of it, so the two sides agree on it (canonical.py refuses only a Python
// int beyond ±(2^53-1), which a browser cannot hold). -0 is written "0" by both.
// What is written is a checked copy, so a getter is read once and a "__proto__" key stays a key.
// canonicalize needs String.prototype.isWellFormed (Chrome 111, Firefox 119, Safari 16.4).
import canonicalize from "./vendor/canonicalize/canonicalize.js";

export const MAX_DEPTH = 32; // canonical.py's MAX_DEPTH

export class CanonicalError extends Error {
  constructor(where, message) {
    super(where ? `${where}: ${message}` : message);
    this.name = "CanonicalError";
    this.where = where;
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function member(where, key) {
  if (NAME.test(key)) return where ? `${where}.${key}` : key;
  return `${where}[${JSON.stringify(key)}]`;
}

// A lone surrogate: a high one not followed by a low one, or a low one not after a high one.
// Written without isWellFormed() or look-behind, so the error names the path on any browser.
function wellFormed(text) {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
  }
  return true;
}

function describe(value) {
  if (value === undefined) return "undefined";
  if (typeof value === "bigint") return `a BigInt (${value}n): use a Number`;
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return name ? `a ${name}` : "an object that is not plain";
}

// The value checked, copied as plain arrays and null-prototype objects: what is written is what
// was checked (a getter is read once), and a "__proto__" key stays a key.
function checked(value, where, depth) {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "string") {
    if (!wellFormed(value)) throw new CanonicalError(where, "expected valid Unicode text, got a lone surrogate");
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new CanonicalError(where, `expected a finite number, got ${value}`);
    return value;
  }
  const isArray = Array.isArray(value);
  const proto = typeof value === "object" ? Object.getPrototypeOf(value) : undefined;
  if (!isArray && proto !== Object.prototype && proto !== null) {
    throw new CanonicalError(where, `expected a JSON value, got ${describe(value)}`);
  }
  if (depth >= MAX_DEPTH) throw new CanonicalError(where, `expected at most ${MAX_DEPTH} levels of nesting`);
  if (isArray) {
    const out = [];
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw new CanonicalError(`${where}[${i}]`, "expected a JSON value, got an empty slot");
      out.push(checked(value[i], `${where}[${i}]`, depth + 1));
    }
    return out;
  }
  if (typeof value.toJSON === "function") {
    throw new CanonicalError(where, "expected a JSON value, got an object with a toJSON method");
  }
  if (Object.getOwnPropertySymbols(value).length) {
    throw new CanonicalError(where, "expected string keys, got a symbol key");
  }
  const out = Object.create(null);
  for (const key of Object.keys(value)) {
    if (!wellFormed(key)) {
      throw new CanonicalError(member(where, key), "expected a key of valid Unicode text, got a lone surrogate");
    }
    out[key] = checked(value[key], member(where, key), depth + 1);
  }
  return out;
}

/** The JCS text of `value`, after the checks above. */
export function canonicalText(value) {
  return canonicalize(checked(value, "", 0));
}

/** The UTF-8 bytes of the JCS text of `value`: what is hashed (SHA-256) and signed (Ed25519). */
export function canonicalBytes(value) {
  return new TextEncoder().encode(canonicalText(value));
}

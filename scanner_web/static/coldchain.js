// A data logger's file, read in the supplier's browser before a cold-chain event is signed
// (issue 15): parse the CSV, let the user confirm which column is time and which temperature and
// in which time zone the times are, then show the same summary and chart the server and the scan
// page will show (trace/core/coldchain.py, trace/core/chart.py). Pure ES module: no DOM at import,
// no dependencies, so Node tests it against the Python code and the portal imports it as is.

// trace/core/coldchain.py's constants: ΔH/R = 83 144 J/mol / 8.3144 J/(mol·K), and 0 °C in kelvin.
export const DELTA_H_OVER_R = 83144.0 / 8.3144;
export const KELVIN = 273.15;
// core/events.py: PHYSICAL_MIN_C, PHYSICAL_MAX_C, MAX_READINGS.
export const PHYSICAL_MIN_C = -100;
export const PHYSICAL_MAX_C = 100;
export const MAX_READINGS = 50_000;

const DELIMITERS = [",", ";", "\t"];
const TIME_WORDS = ["timestamp", "date/time", "datetime", "date time", "time", "date", "日期时间", "日期", "时间", "时刻"];
const TEMP_WORDS = ["temperature", "temp", "°c", "℃", "°f", "℉", "deg", "温度"];
const FAHRENHEIT = /°\s*f|℉|\(f\)|\[f\]|fahrenheit|华氏/i;
const NUMBER = /^[+-]?(\d+([.,]\d*)?|[.,]\d+)$/;
const UNIT_SUFFIX = /\s*(°\s*[CFcf]|℃|℉|[CFcf])$/;

// ---------------------------------------------------------------------------------------------
// The file

/** Cells of a CSV text with ``delimiter``: quoted fields ("" inside quotes is one "), line breaks
 *  inside quotes kept. Each row carries its 1-based line number in the file (for messages). */
function splitRows(text, delimiter) {
  const rows = [];
  if (!text.includes('"')) {
    const lines = text.split(/\r\n|\n|\r/);
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() !== "") rows.push({ line: i + 1, cells: lines[i].split(delimiter).map((c) => c.trim()) });
    }
    return rows;
  }
  let cells = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  const end = () => {
    cells.push(cell.trim());
    if (cells.length > 1 || cells[0] !== "") rows.push({ line: start, cells });
    cells = [];
    cell = "";
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === "\n") line++;
        cell += ch;
      }
    } else if (ch === '"' && cell.trim() === "") {
      quoted = true;
      cell = "";
    } else if (ch === delimiter) {
      cells.push(cell.trim());
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      end();
      line++;
      start = line;
    } else cell += ch;
  }
  if (cell !== "" || cells.length) end();
  return rows;
}

/** The delimiter giving the most lines with one and the same number (≥ 2) of columns among the
 *  first lines; on a tie tab, then semicolon (whose files write decimal commas), then comma. */
function detectDelimiter(text) {
  const sample = text.split(/\r\n|\n|\r/, 60).filter((l) => l.trim() !== "");
  let best = ",";
  let bestScore = -1;
  for (const d of ["\t", ";", ","]) {
    const counts = new Map();
    for (const l of sample) {
      const n = l.split(d).length;
      if (n >= 2) counts.set(n, (counts.get(n) || 0) + 1);
    }
    const score = Math.max(0, ...counts.values());
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  return best;
}

const looksNumeric = (cell) => NUMBER.test(cell.replace(UNIT_SUFFIX, "").replace("−", "-"));
const looksTime = (cell) => /\d{1,4}[-/.年]\d{1,2}[-/.月]\d{1,4}/.test(cell) || /^\d{9,13}$/.test(cell);

function headerRole(name) {
  const n = name.toLowerCase();
  if (TEMP_WORDS.some((w) => n.includes(w))) return "temperature";
  if (TIME_WORDS.some((w) => n.includes(w))) return "time";
  return null;
}

/**
 * Read a logger's CSV text.
 * Returns {columns, rows, delimiter, problems, header, guess, decimalComma}:
 *  - columns: [{index, name, samples, role}] (role: the guess, "time", "temperature" or null);
 *  - rows: [{line, cells}] the data rows (line: 1-based line in the file);
 *  - guess: {time, temperature, fahrenheit}: column indexes for the user to confirm or change;
 *  - problems: [string] what could not be understood (lines with another number of columns).
 */
export function parseLoggerCsv(text) {
  const problems = [];
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const delimiter = detectDelimiter(text);
  const all = splitRows(text, delimiter);
  const widths = new Map();
  for (const r of all) widths.set(r.cells.length, (widths.get(r.cells.length) || 0) + 1);
  let width = 0;
  let most = 0;
  for (const [n, count] of widths) if (n >= 2 && count > most) [width, most] = [n, count];
  if (!width) {
    return {
      columns: [], rows: [], delimiter, problems: ["file: expected a table with at least two columns (time and temperature)"],
      header: null, guess: { time: null, temperature: null, fahrenheit: false, timezone: null }, decimalComma: false,
    };
  }
  // The first row of the table's width holding a number is the first data row; a row of that
  // width just before it with no number is the header; anything earlier is the logger's preamble.
  let first = all.findIndex((r) => r.cells.length === width && r.cells.some(looksNumeric));
  if (first < 0) first = all.length;
  let header = null;
  for (let i = first - 1; i >= 0; i--) {
    if (all[i].cells.length === width) {
      header = all[i];
      break;
    }
  }
  const rows = [];
  for (let i = first; i < all.length; i++) {
    const r = all[i];
    if (r.cells.length === width) rows.push(r);
    else problems.push(`line ${r.line}: expected ${width} columns, got ${r.cells.length}`);
  }
  const samples = rows.slice(0, 5);
  const columns = [];
  for (let c = 0; c < width; c++) {
    const name = header ? header.cells[c] : `column ${c + 1}`;
    columns.push({ index: c, name, samples: samples.map((r) => r.cells[c]), role: header ? headerRole(name) : null });
  }
  const pick = (role, test) => {
    const named = columns.find((c) => c.role === role);
    if (named) return named.index;
    const byContent = columns.find((c) => c.samples.length && c.samples.every(test) && c.role === null);
    return byContent ? byContent.index : null;
  };
  const time = pick("time", looksTime);
  const temperature = pick("temperature", (s) => looksNumeric(s) && !looksTime(s));
  for (const c of columns) c.role = c.index === time ? "time" : c.index === temperature ? "temperature" : null;
  const tempCells = temperature === null ? [] : samples.map((r) => r.cells[temperature]);
  const fahrenheit =
    (temperature !== null && FAHRENHEIT.test(columns[temperature].name)) || tempCells.some((s) => /(°\s*F|℉)$/.test(s));
  const decimalComma = delimiter !== "," && tempCells.some((s) => /\d,\d/.test(s));
  if (rows.length === 0) problems.push("file: expected rows of readings below the header, found none");
  // A zone written in the time column's header ("Time (UTC+08:00)") is offered, never assumed.
  const zoneInHeader = time === null ? null : /\b(UTC|GMT)\s*([+-]\d{1,2}(?::?\d{2})?)?/i.exec(columns[time].name);
  const timezone = zoneInHeader ? zoneInHeader[0].replace(/\s+/g, "") : null;
  return {
    columns, rows, delimiter, problems, header: header ? header.line : null,
    guess: { time, temperature, fahrenheit, timezone }, decimalComma,
  };
}

// ---------------------------------------------------------------------------------------------
// Times

const OFFSET = /^(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?$/i;

/** Minutes east of UTC of a fixed zone ("+08:00", "UTC+8", "-0500", "UTC", "Z"), or null. */
export function fixedOffsetMinutes(zone) {
  const z = zone.trim();
  if (/^(Z|UTC|GMT)$/i.test(z)) return 0;
  const m = OFFSET.exec(z);
  if (!m) return null;
  const minutes = Number(m[2]) * 60 + Number(m[3] || 0);
  return minutes > 18 * 60 ? null : (m[1] === "-" ? -minutes : minutes);
}

/** A zone: {name, offsetAt(utcMs) -> ms east of UTC}. An IANA name is read with Intl, one
 *  formatToParts per UTC quarter hour (every zone's changes of offset fall on one), so 43 200
 *  readings ask Intl a few thousand times, not 43 200. */
export function timeZone(name) {
  const fixed = fixedOffsetMinutes(name);
  if (fixed !== null) return { name, fixed: true, offsetAt: () => fixed * 60_000 };
  let format;
  try {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: name, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric", era: "short",
    });
  } catch {
    return null;
  }
  const cache = new Map();
  const offsetAt = (utcMs) => {
    const slot = Math.floor(utcMs / 900_000);
    let offset = cache.get(slot);
    if (offset === undefined) {
      const at = slot * 900_000;
      const p = {};
      for (const part of format.formatToParts(new Date(at))) p[part.type] = part.value;
      const year = p.era === "BC" || p.era === "B" ? 1 - Number(p.year) : Number(p.year);
      const local = Date.UTC(year, Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
      offset = local - at;
      cache.set(slot, offset);
    }
    return offset;
  };
  return { name: format.resolvedOptions().timeZone, fixed: false, offsetAt };
}

const LOCAL = /^(\d{1,4})[-/.年](\d{1,2})[-/.月](\d{1,4})日?(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(AM|PM|上午|下午)?)?\s*(Z|(?:UTC|GMT)?\s*[+-]\d{1,2}(?::?\d{2})?|UTC|GMT)?$/i;

/** {local (ms as if UTC), offset (ms, or null when the text has none)} of a logger's time text,
 *  or an error string saying what was expected. ``order``: "ymd" (ISO, the default), "dmy" or "mdy"
 *  for dates with the year last. */
export function parseTime(text, order = "ymd") {
  const t = text.trim();
  if (/^\d{9,13}$/.test(t)) {
    const ms = t.length > 11 ? Number(t) : Number(t) * 1000;
    return { local: ms, offset: 0 };
  }
  const m = LOCAL.exec(t);
  if (!m) return "a date and time such as 2026-03-01 14:05:00 (optionally with an offset, e.g. +08:00)";
  let [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (m[1].length <= 2 && m[3].length === 4) {
    [y, mo, d] = order === "mdy" ? [Number(m[3]), Number(m[1]), Number(m[2])] : [Number(m[3]), Number(m[2]), Number(m[1])];
  } else if (m[1].length !== 4) return "a four-digit year first (2026-03-01) or last (01/03/2026)";
  let h = m[4] === undefined ? 0 : Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const ampm = m[8] && m[8].toUpperCase();
  if (ampm === "PM" || ampm === "下午") h = (h % 12) + 12;
  else if (ampm === "AM" || ampm === "上午") h = h % 12;
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate() || h > 23 || mi > 59 || s > 59) {
    return "a real calendar date and time";
  }
  const local = Date.UTC(y, mo - 1, d, h, mi, s) + frac;
  let offset = null;
  if (m[9]) offset = fixedOffsetMinutes(m[9].replace(/\s+/g, "")) * 60_000;
  return { local, offset };
}

/** UTC ms of a local time in ``zone``, after ``previous`` (UTC ms) when the local time is
 *  ambiguous (the hour repeated when clocks go back: a logger's second pass through it), or an
 *  error string when the local time does not exist (the hour skipped when clocks go forward). */
function toUtc(local, zone, previous) {
  const before = zone.offsetAt(local - 86_400_000);
  const after = zone.offsetAt(local + 86_400_000);
  const valid = [];
  for (const o of before === after ? [before] : [before, after]) {
    if (zone.offsetAt(local - o) === o) valid.push(local - o);
  }
  if (!valid.length) return `a time that exists in ${zone.name} (clocks jumped forward over it)`;
  valid.sort((a, b) => a - b);
  if (valid.length > 1 && previous !== null && valid[0] <= previous) return valid[1];
  return valid[0];
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** ISO 8601 text of ``utcMs`` shown at ``offsetMs`` east of UTC: 2026-03-01T14:05:00+08:00. */
export function isoAt(utcMs, offsetMs) {
  const d = new Date(utcMs + offsetMs);
  const ms = d.getUTCMilliseconds();
  const sign = offsetMs < 0 ? "-" : "+";
  const o = Math.abs(Math.round(offsetMs / 60_000));
  const year = d.getUTCFullYear();
  return (
    `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:` +
    `${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${ms ? "." + pad(ms, 3) : ""}${sign}${pad(Math.floor(o / 60))}:${pad(o % 60)}`
  );
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** UTC ms (fractions kept, so microseconds count as in Python) of an aware ISO time as events hold it. */
export function isoMs(text) {
  const m = ISO.exec(text);
  if (!m) throw new Error(`at: expected an ISO 8601 time with an offset, got ${JSON.stringify(text)}`);
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  const off = m[8].toUpperCase() === "Z" ? 0 : fixedOffsetMinutes(m[8]) * 60_000;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) + frac - off;
}

// ---------------------------------------------------------------------------------------------
// Readings

function parseNumber(cell, decimalComma) {
  let s = cell.replace(UNIT_SUFFIX, "").replace("−", "-").trim();
  if (decimalComma) s = s.replace(",", ".");
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(s)) return null;
  return Number(s);
}

/**
 * The readings of ``rows`` (parseLoggerCsv's) under ``mapping``:
 *   {time: column index, temperature: column index, timezone: IANA name or fixed offset
 *    ("Asia/Shanghai", "+08:00", "UTC"), fahrenheit?: bool, decimalComma?: bool, dateOrder?: "ymd"|"dmy"|"mdy"}.
 * A time written without an offset is read in ``timezone``; one with an offset keeps it. Returns
 * {readings: [{at, c}], times: [utc ms], problems}: ``readings`` is exactly the event's
 * ``data.readings`` (core/events.py ReadingIn), each ``at`` written at its offset in the zone; each
 * bad row is left out and named in ``problems`` with its line, column and what was expected.
 */
export function readings(rows, mapping) {
  const problems = [];
  const out = [];
  const times = [];
  const { time, temperature } = mapping;
  if (time === null || time === undefined || temperature === null || temperature === undefined) {
    return { readings: out, times, problems: ["mapping: expected a time column and a temperature column"] };
  }
  if (time === temperature) {
    return { readings: out, times, problems: ["mapping: expected the time and temperature columns to differ"] };
  }
  const zone = mapping.timezone ? timeZone(mapping.timezone) : null;
  if (mapping.timezone && !zone) {
    return {
      readings: out, times,
      problems: [`timezone: expected an IANA zone name (e.g. Asia/Shanghai) or an offset (e.g. +08:00), got ${JSON.stringify(mapping.timezone)}`],
    };
  }
  const order = mapping.dateOrder || "ymd";
  const fahrenheit = Boolean(mapping.fahrenheit);
  const unit = fahrenheit ? "°F" : "°C";
  const lo = fahrenheit ? PHYSICAL_MIN_C * 9 / 5 + 32 : PHYSICAL_MIN_C;
  const hi = fahrenheit ? PHYSICAL_MAX_C * 9 / 5 + 32 : PHYSICAL_MAX_C;
  let previous = null;
  let noZone = 0;
  for (const row of rows) {
    const where = `line ${row.line}`;
    const timeText = row.cells[time] ?? "";
    const tempText = row.cells[temperature] ?? "";
    const parsed = parseTime(timeText, order);
    if (typeof parsed === "string") {
      problems.push(`${where}, column ${time + 1} (time): expected ${parsed}, got ${JSON.stringify(timeText)}`);
      continue;
    }
    let utc;
    let offset;
    if (parsed.offset !== null) {
      utc = parsed.local - parsed.offset;
      offset = zone ? zone.offsetAt(utc) : parsed.offset;
    } else if (!zone) {
      noZone++;
      if (noZone <= 1) {
        problems.push(`${where}, column ${time + 1} (time): ${JSON.stringify(timeText)} has no UTC offset; expected a time zone to be chosen (timezone)`);
      }
      continue;
    } else {
      const u = toUtc(parsed.local, zone, previous);
      if (typeof u === "string") {
        problems.push(`${where}, column ${time + 1} (time): expected ${u}, got ${JSON.stringify(timeText)}`);
        continue;
      }
      utc = u;
      offset = zone.offsetAt(utc);
    }
    const value = parseNumber(tempText, mapping.decimalComma);
    if (value === null) {
      problems.push(`${where}, column ${temperature + 1} (temperature): expected a number of ${unit}${mapping.decimalComma ? " (decimal comma)" : ""}, got ${JSON.stringify(tempText)}`);
      continue;
    }
    if (!(value >= lo && value <= hi)) {
      problems.push(`${where}, column ${temperature + 1} (temperature): expected ${lo} to ${hi} ${unit}, got ${tempText}`);
      continue;
    }
    if (previous !== null && utc <= previous) {
      problems.push(`${where}, column ${time + 1} (time): expected a time after ${isoAt(previous, zone ? zone.offsetAt(previous) : 0)}, got ${JSON.stringify(timeText)}`);
      continue;
    }
    const c = fahrenheit ? round3(((value - 32) * 5) / 9) : value;
    out.push({ at: isoAt(utc, offset), c: Object.is(c, -0) ? 0 : c });
    times.push(utc);
    previous = utc;
  }
  if (noZone > 1) problems.push(`… and ${noZone - 1} more rows without an offset: choose the time zone the logger wrote them in`);
  if (out.length > MAX_READINGS) problems.push(`readings: expected at most ${MAX_READINGS} readings per event, got ${out.length}`);
  return { readings: out, times, problems };
}

// ---------------------------------------------------------------------------------------------
// The summary, as trace/core/coldchain.py computes it

/** Python's f"{x:.{digits}f}": the exact binary value rounded, exact halves to even (toFixed
 *  takes the exact value too but breaks ties away from zero: 3.25 is "3.3" there, "3.2" in Python). */
export function pyFixed(x, digits) {
  const s = x.toFixed(digits);
  if (!Number.isFinite(x) || Math.abs(x) < 1e-20 || Math.abs(x) >= 1e15) return s;
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf(".");
  if (!/^50*$/.test(exact.slice(dot + 1 + digits))) return s;
  const kept = exact.slice(0, digits ? dot + 1 + digits : dot);
  return Number(kept[kept.length - 1]) % 2 === 0 ? (x < 0 ? "-" : "") + kept : s;
}

/** Python's round(x, 3), as coldchain.py rounds the mean kinetic temperature. */
export const round3 = (x) => Number(pyFixed(x, 3));

/** coldchain.py mean_kinetic_temperature: the terms summed left to right (CPython 3.11's sum). */
export function meanKineticTemperature(celsius) {
  let sum = 0;
  for (const c of celsius) sum += Math.exp(-DELTA_H_OVER_R / (c + KELVIN));
  return DELTA_H_OVER_R / -Math.log(sum / celsius.length) - KELVIN;
}

/**
 * coldchain.py analyse(): {min_c, max_c, mean_kinetic_c, seconds_out_of_range, excursions:
 * [{start, end, peak_c, seconds}], verdict} of ``readings`` ([{at, c}], in time order) against
 * ``range`` {min_c, max_c}. Each reading holds until the next; the last covers no time.
 */
export function summary(list, range, times = null) {
  if (!list.length) throw new Error("readings: expected at least one reading");
  const ms = times || list.map((r) => isoMs(r.at));
  const low = range.min_c;
  const high = range.max_c;
  const mid = (low + high) / 2;
  const excursions = [];
  let start = null;
  let startAt = null;
  let peak = 0;
  let out = 0;
  let min = Infinity;
  let max = -Infinity;
  const n = list.length;
  for (let i = 0; i < n; i++) {
    const c = list[i].c;
    if (c < min) min = c;
    if (c > max) max = c;
    const outside = c < low || c > high;
    const nxt = i + 1 < n ? i + 1 : i;
    if (outside) {
      out += (ms[nxt] - ms[i]) / 1000;
      if (start === null) {
        start = i;
        startAt = list[i].at;
        peak = c;
      } else if (Math.abs(c - mid) > Math.abs(peak - mid)) peak = c;
    }
    if (start !== null && (!outside || i + 1 === n)) {
      const endIndex = outside ? nxt : i;
      excursions.push({
        start: startAt, end: list[endIndex].at, peak_c: peak, seconds: (ms[endIndex] - ms[start]) / 1000,
        startMs: ms[start], endMs: ms[endIndex],
      });
      start = null;
    }
  }
  return {
    min_c: min,
    max_c: max,
    mean_kinetic_c: round3(meanKineticTemperature(list.map((r) => r.c))),
    seconds_out_of_range: out,
    excursions,
    verdict: excursions.length ? "excursion" : "ok",
  };
}

// ---------------------------------------------------------------------------------------------
// The chart, as trace/core/chart.py draws it

export const WIDTH = 320;
export const HEIGHT = 160;
const [LEFT, RIGHT, TOP, BOTTOM] = [34, 8, 10, 22];

const escapeXml = (s) =>
  String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" })[ch]);
// Python's format(x, "g") for the limits and readings shown (6 significant digits, no trailing zeros).
const g = (x) => {
  const s = Number(x.toPrecision(6));
  return Math.abs(s) >= 1e16 || (s !== 0 && Math.abs(s) < 1e-4) ? s.toExponential() : String(s);
};
const f1 = (x) => pyFixed(x, 1);

/**
 * SVG markup of ``readings`` ([{at, c}]) against [range.min_c, range.max_c]: chart.py's layout
 * (band, axes, limit labels, start time, span in hours, polyline, red dots outside the band), plus
 * each excursion's span shaded red. Above two points per pixel column the polyline keeps, per
 * column, the first, lowest, highest and last reading (in time order) and the dots the column's
 * extreme outside readings, so 43 200 readings draw as ~1 000 points looking the same.
 */
export function chartSvg(list, range, title = "", times = null) {
  if (!list.length) return "";
  const ms = times || list.map((r) => isoMs(r.at));
  const low = range.min_c;
  const high = range.max_c;
  let min = Infinity;
  let max = -Infinity;
  for (const r of list) {
    if (r.c < min) min = r.c;
    if (r.c > max) max = r.c;
  }
  const lo = Math.min(min, low) - 1;
  const hi = Math.max(max, high) + 1;
  const t0 = ms[0];
  const span = Math.max((ms[ms.length - 1] - t0) / 1000, 1);
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const x = (t) => LEFT + ((t - t0) / 1000 / span) * plotW;
  const y = (c) => TOP + ((hi - c) / (hi - lo)) * plotH;
  const n = list.length;
  let keep;
  const dots = [];
  if (n <= 2 * plotW) {
    keep = list.map((_, i) => i);
    for (let i = 0; i < n; i++) if (list[i].c < low || list[i].c > high) dots.push(i);
  } else {
    keep = [];
    let i = 0;
    while (i < n) {
      const column = Math.floor(x(ms[i]));
      let j = i;
      let lowest = i;
      let highest = i;
      let below = -1;
      let above = -1;
      while (j < n && Math.floor(x(ms[j])) === column) {
        const c = list[j].c;
        if (c < list[lowest].c) lowest = j;
        if (c > list[highest].c) highest = j;
        if (c < low && (below < 0 || c < list[below].c)) below = j;
        if (c > high && (above < 0 || c > list[above].c)) above = j;
        j++;
      }
      for (const k of [...new Set([i, lowest, highest, j - 1])].sort((a, b) => a - b)) keep.push(k);
      for (const k of [below, above]) if (k >= 0) dots.push(k);
      i = j;
    }
    dots.sort((a, b) => a - b);
  }
  const points = keep.map((i) => `${f1(x(ms[i]))},${f1(y(list[i].c))}`).join(" ");
  const dotText = dots
    .map((i) => `<circle class="excursion" cx="${f1(x(ms[i]))}" cy="${f1(y(list[i].c))}" r="3"><title>${g(list[i].c)} °C ${escapeXml(list[i].at.slice(0, 16))}</title></circle>`)
    .join("");
  const spans = summary(list, range, ms).excursions
    .map((e) => {
      const x0 = x(e.startMs);
      return `<rect class="excursion-span" x="${f1(x0)}" y="${TOP}" width="${f1(Math.max(x(e.endMs) - x0, 1))}" height="${plotH}" fill="#f6d5d5"/>`;
    })
    .join("");
  const bandTop = y(high);
  const bandBottom = y(low);
  const hours = span / 3600;
  const start = list[0].at.slice(0, 16).replace("T", " ");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="temp-chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(title || "temperature over time")}">`,
    `<rect class="band" x="${LEFT}" y="${f1(bandTop)}" width="${plotW}" height="${f1(bandBottom - bandTop)}" fill="#d8f0dc"/>`,
    spans,
    `<line x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + plotH}" stroke="#888"/>`,
    `<line x1="${LEFT}" y1="${TOP + plotH}" x2="${LEFT + plotW}" y2="${TOP + plotH}" stroke="#888"/>`,
    `<text x="${LEFT - 4}" y="${f1(bandTop + 4)}" text-anchor="end" font-size="10">${g(high)}°</text>`,
    `<text x="${LEFT - 4}" y="${f1(bandBottom + 4)}" text-anchor="end" font-size="10">${g(low)}°</text>`,
    `<text x="${LEFT}" y="${HEIGHT - 6}" font-size="10">${escapeXml(start)}</text>`,
    `<text x="${LEFT + plotW}" y="${HEIGHT - 6}" text-anchor="end" font-size="10">+${f1(hours)} h</text>`,
    `<polyline class="reading" fill="none" stroke="#1f5fa8" stroke-width="1.5" points="${points}"/>`,
    dotText,
    "</svg>",
  ].join("");
}

/** Everything the portal previews from a file's text and the user's mapping and range, in one call:
 *  {parsed, readings, problems, summary, chart} (summary and chart null without readings). */
export function preview(text, mapping, range, title = "") {
  const parsed = parseLoggerCsv(text);
  const m = {
    time: parsed.guess.time, temperature: parsed.guess.temperature, fahrenheit: parsed.guess.fahrenheit,
    decimalComma: parsed.decimalComma, ...mapping,
  };
  const r = readings(parsed.rows, m);
  const ok = r.readings.length > 0;
  return {
    parsed,
    mapping: m,
    readings: r.readings,
    problems: [...parsed.problems, ...r.problems],
    summary: ok ? summary(r.readings, range, r.times) : null,
    chart: ok ? chartSvg(r.readings, range, title, r.times) : "",
  };
}

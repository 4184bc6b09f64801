// The supplier portal's cold-chain form (/supplier/cold-chain).
//
// The logger's CSV is read in this browser (FileReader; nothing is uploaded before signing) and
// everything about it is coldchain.js's: parseLoggerCsv finds the columns and guesses the mapping,
// the user confirms or changes it (time and temperature columns, Fahrenheit, decimal comma, time
// zone, date order), readings() gives exactly the event's data.readings and each bad row's problem
// by line, summary() and chartSvg() preview what the scan page will show (core/coldchain.py's
// analyse and core/chart.py's chart). The event is exactly core/events.py's ColdChainData naming a
// shipment: {shipment, logger: {id, model?}, range: {min_c, max_c}, readings}; portal-form.js
// previews its canonical bytes, signs them with this browser's key and submits them.

import { chartSvg, parseLoggerCsv, pyFixed, readings, summary } from "./coldchain.js";
import { $, number, signedForm, session, words } from "./portal-form.js";

let fileText = null; // the chosen file's text, kept in this page only
let parsed = null; // parseLoggerCsv(fileText)
let current = { readings: [], times: [], lines: [], problems: [], summary: null };

const range = () => ({ min_c: number($("min-c").value), max_c: number($("max-c").value) });
const f1 = (x) => pyFixed(x, 1);
// Python's str(float) for the numbers a logger writes (4.0 -> "4.0"), as the scan page shows them.
const pyStr = (x) => (Number.isInteger(x) ? x.toFixed(1) : String(x));

function mapping() {
  const index = (id) => ($(id).value === "" ? null : Number($(id).value));
  return {
    time: index("map-time"),
    temperature: index("map-temp"),
    fahrenheit: $("map-fahrenheit").checked,
    decimalComma: $("map-decimal-comma").checked,
    timezone: $("map-timezone").value.trim() || null,
    dateOrder: $("map-order").value,
  };
}

function options(select, columns, chosen) {
  select.replaceChildren();
  for (const c of columns) select.append(new Option(`${c.index + 1}: ${c.name}`, String(c.index), false, c.index === chosen));
  if (chosen === null) select.value = "";
}

// A newly chosen file: its columns, samples and the guessed mapping, for the user to confirm.
function loaded(text) {
  fileText = text;
  parsed = parseLoggerCsv(text);
  const body = $("columns").tBodies[0];
  body.replaceChildren();
  for (const c of parsed.columns) {
    const tr = body.insertRow();
    tr.insertCell().textContent = c.name;
    tr.insertCell().textContent = c.samples.join(" | ");
    tr.insertCell().textContent = c.role ? words[`role_${c.role}`] : "—";
  }
  options($("map-time"), parsed.columns, parsed.guess.time);
  options($("map-temp"), parsed.columns, parsed.guess.temperature);
  $("map-fahrenheit").checked = parsed.guess.fahrenheit;
  $("map-decimal-comma").checked = parsed.decimalComma;
  if (parsed.guess.timezone) $("map-timezone").value = parsed.guess.timezone;
  $("mapping").hidden = !parsed.columns.length;
  refresh();
}

function problemList(list) {
  const ul = $("row-problems");
  ul.replaceChildren();
  for (const text of list) {
    const li = document.createElement("li");
    li.textContent = text;
    ul.append(li);
  }
  $("row-problems-box").hidden = !list.length;
}

function summaryLines(s, r) {
  const excursions = s.excursions.map((e) => `${e.start} – ${e.end}, ${f1(e.peak_c)} °C, ${f1(e.seconds / 60)} min`);
  return [
    [words.cold_readings, String(current.readings.length)],
    // As the scan page writes them (scanner_web/facts.py): str(min), f"{mkt:.1f}", round(minutes).
    [words.cold_min_max, `${pyStr(s.min_c)} / ${pyStr(s.max_c)} °C (${r.min_c}–${r.max_c} °C)`],
    [words.cold_mkt, `${f1(s.mean_kinetic_c)} °C`],
    [words.cold_out_of_range, pyFixed(s.seconds_out_of_range / 60, 0)],
    [words.cold_excursions, excursions.length ? excursions.join("; ") : "—"],
    [words.cold_verdict, words[`verdict_${s.verdict}`]],
  ];
}

// Read the rows again under the current mapping and range: the chart, the numbers, the bad rows.
function refresh() {
  if (fileText === null) return;
  const m = mapping();
  const r = readings(parsed.rows, m);
  const bad = new Set(r.problems.map((p) => /^line (\d+),/.exec(p)).filter(Boolean).map((x) => Number(x[1])));
  const lines = parsed.rows.map((row) => row.line).filter((line) => !bad.has(line));
  const problems = [...parsed.problems, ...r.problems];
  const zoneProblem = problems.find((p) => p.startsWith("timezone: "));
  document.querySelector('.problem[data-for="timezone"]').textContent = zoneProblem || "";
  problemList(problems.filter((p) => p !== zoneProblem));
  const rg = range();
  const sane = typeof rg.min_c === "number" && typeof rg.max_c === "number" && rg.min_c < rg.max_c;
  const s = r.readings.length && sane ? summary(r.readings, rg, r.times) : null;
  current = { readings: r.readings, times: r.times, lines, problems, summary: s };
  const pane = $("file-preview");
  pane.hidden = false;
  const dl = $("cc-summary");
  dl.replaceChildren();
  $("cc-chart").replaceChildren();
  if (!s) {
    const dd = document.createElement("dd");
    dd.textContent = r.readings.length ? "" : words.cold_no_readings;
    dl.append(dd);
    pane.removeAttribute("data-verdict");
    return;
  }
  for (const [k, v] of summaryLines(s, rg)) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dl.append(dt, dd);
  }
  // The numbers as summary() gives them, for whoever checks them (the tests compare with analyse()).
  pane.dataset.verdict = s.verdict;
  pane.dataset.summary = JSON.stringify({
    min_c: s.min_c, max_c: s.max_c, mean_kinetic_c: s.mean_kinetic_c, seconds_out_of_range: s.seconds_out_of_range,
    excursions: s.excursions.map((e) => ({ start: e.start, end: e.end, peak_c: e.peak_c, seconds: e.seconds })),
    verdict: s.verdict,
  });
  const svg = new DOMParser().parseFromString(chartSvg(r.readings, rg, $("logger-id").value.trim(), r.times), "image/svg+xml");
  $("cc-chart").replaceChildren(document.importNode(svg.documentElement, true));
}

function buildEvent() {
  const logger = { id: $("logger-id").value.trim() };
  if ($("logger-model").value.trim()) logger.model = $("logger-model").value.trim();
  const data = { shipment: $("cc-shipment").value, logger, range: range(), readings: current.readings };
  return { kind: "cold_chain", supplier: session.supplier, key: $("key-id").value, data };
}

function summaryRows(event) {
  const d = event.data;
  const lot = $("cc-shipment").selectedOptions[0]?.textContent || d.shipment;
  const head = [
    [words.f_cold_shipment, lot],
    [words.f_logger_id, d.logger.id + (d.logger.model ? ` (${d.logger.model})` : "")],
  ];
  return current.summary ? [...head, ...summaryLines(current.summary, d.range)] : head;
}

// The API names a reading by its index (data.readings[12].at): shown with the file's line.
function rowProblem(path, message) {
  const m = /^data\.readings\[(\d+)\]/.exec(path);
  if (!m) return false;
  const line = current.lines[Number(m[1])];
  const li = document.createElement("li");
  li.textContent = `line ${line}: ${message}`;
  $("row-problems").append(li);
  $("row-problems-box").hidden = false;
  return true;
}

function setup(changed) {
  $("logger-file").addEventListener("change", async () => {
    changed();
    const file = $("logger-file").files[0];
    if (file) loaded(await file.text());
  });
  for (const id of ["map-time", "map-temp", "map-fahrenheit", "map-decimal-comma", "map-timezone", "map-order", "min-c", "max-c", "logger-id"]) {
    $(id).addEventListener("input", refresh);
    $(id).addEventListener("change", refresh);
  }
}

// The custody rule (custody.py) refuses the cold chain of a shipment the supplier neither recorded
// nor received; the API names events[0].data.shipment, so it shows beside the shipment field.
if ($("cold-chain-form")) {
  signedForm({ form: "cold-chain-form", status: "cold-chain-status", buildEvent, summaryRows, rowProblem, setup });
}

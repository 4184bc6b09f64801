// The supplier portal's shipment and customs form (/supplier/shipment).
//
// Builds the shipment event (exactly core/events.py's ShipmentData: id, lot, quantity, unit,
// from_site, to_site, shipped_at, received_at?, customs?, consignee?, documents?) from the form; portal-form.js
// previews its canonical bytes, signs them with this browser's key and submits them, as the
// production-lot form does. Times are the browser's local date-time, sent as UTC ("...Z").
// Documents (customs declaration, health certificate, certificate of analysis, bill of lading,
// other): one row each, a kind and a PDF; the PDF's SHA-256 is computed here (WebCrypto) and
// signed with its public link, and the file goes to the document store (POST /supplier/documents)
// just before the previewed bytes are signed, as the test report's certificate does.

import { $, documentUri, lotRef, number, readPdf, signedForm, siteOf, siteText, session, storeDocument, words } from "./portal-form.js";

const pdfs = new WeakMap(); // a document row -> {bytes, sha256} of its chosen PDF

const documentRows = () => [...document.querySelectorAll("#documents .document-row")];

function documentOf(row) {
  const pdf = pdfs.get(row);
  const doc = { kind: row.querySelector(".doc-kind").value, sha256: pdf ? pdf.sha256 : "", uri: pdf ? documentUri(pdf.sha256) : "" };
  if (row.querySelector(".doc-title").value.trim()) doc.title = row.querySelector(".doc-title").value.trim();
  return doc;
}

// A datetime-local value -> an ISO time with its zone (UTC); as typed when it is no time.
function instant(value) {
  const d = new Date(value);
  return value && Number.isFinite(d.getTime()) ? d.toISOString().replace(".000Z", "Z") : value;
}

function buildEvent() {
  const data = {
    id: $("shipment-id").value.trim(),
    lot: lotRef($("ship-lot").value),
    quantity: number($("quantity").value),
    unit: $("unit").value.trim(),
    from_site: siteOf("from"),
    to_site: siteOf("to"),
    shipped_at: instant($("shipped_at").value),
  };
  if ($("received_at").value) data.received_at = instant($("received_at").value);
  const customs = ["customs-declaration", "customs-port", "customs-cleared", "customs-origin"];
  if (customs.some((id) => $(id).value.trim())) {
    data.customs = {
      declaration_number: $("customs-declaration").value.trim(),
      port: $("customs-port").value.trim(),
      cleared_at: instant($("customs-cleared").value),
    };
    if ($("customs-origin").value.trim()) data.customs.origin_country = $("customs-origin").value.trim().toUpperCase();
  }
  if ($("consignee").value.trim()) data.consignee = $("consignee").value.trim();
  if (documentRows().length) data.documents = documentRows().map(documentOf);
  return { kind: "shipment", supplier: session.supplier, key: $("key-id").value, data };
}

function summaryRows(event) {
  const d = event.data;
  const c = d.customs;
  return [
    [words.f_shipment_id, d.id],
    [words.f_ship_lot, `${d.lot.gtin}/${d.lot.lot}`],
    [words.f_quantity, `${d.quantity} ${d.unit}`],
    [words.f_from_site, siteText(d.from_site)],
    [words.f_to_site, siteText(d.to_site)],
    [words.f_shipped_at, d.shipped_at],
    [words.f_received_at, d.received_at || "—"],
    [words.f_consignee, d.consignee || "—"],
    [words.f_customs, c ? `${c.declaration_number}, ${c.port}, ${c.cleared_at}${c.origin_country ? " " + c.origin_country : ""}` : "—"],
    ...(d.documents || []).map((doc) => [kindLabel(doc.kind), `${doc.title ? doc.title + " — " : ""}${doc.uri || "—"}`]),
  ];
}

const kindLabel = (kind) => [...$("document-row").content.querySelector(".doc-kind").options].find((o) => o.value === kind)?.text ?? kind;

// "data.documents[1].kind" -> beside the second document row.
function rowProblem(path, message) {
  const m = /^data\.documents\[(\d+)\]/.exec(path);
  const row = m && documentRows()[Number(m[1])];
  if (!row) return false;
  const slot = row.querySelector(".problem");
  slot.textContent += (slot.textContent ? " " : "") + `${path.slice(m[0].length + 1) || ""} ${message}`.trim();
  row.querySelector(".doc-file").setAttribute("aria-invalid", "true");
  return true;
}

function addDocument(changed) {
  const row = $("document-row").content.firstElementChild.cloneNode(true);
  row.querySelector(".remove").addEventListener("click", () => {
    row.remove();
    changed();
  });
  row.querySelector(".doc-file").addEventListener("change", async (e) => {
    pdfs.delete(row);
    row.querySelector(".problem").textContent = "";
    row.querySelector(".doc-sha").textContent = "";
    const file = e.target.files[0];
    const pdf = file && (await readPdf(file));
    if (file && !pdf) row.querySelector(".problem").textContent = words.certificate_not_pdf;
    if (pdf) {
      pdfs.set(row, pdf);
      row.querySelector(".doc-sha").textContent = words.certificate_hash.replace("{sha}", pdf.sha256);
      row.dataset.sha256 = pdf.sha256;
    }
    changed(); // hashing is asynchronous: the preview asked for while it ran is stale
  });
  $("documents").append(row);
}

// Every chosen PDF goes to the document store before the record naming it is signed; a refusal
// stops there, shown beside its row. A row without a PDF is left to the API to name.
async function uploadDocuments(event, say) {
  const rows = documentRows();
  for (const [i, doc] of (event.data.documents || []).entries()) {
    const pdf = rows[i] && pdfs.get(rows[i]);
    if (!pdf || pdf.sha256 !== doc.sha256) continue;
    say(words.uploading_document.replace("{n}", i + 1));
    const why = await storeDocument(pdf, doc.uri);
    if (why) {
      rows[i].querySelector(".problem").textContent = why;
      say(words.refused.replace("{detail}", `data.documents[${i}]: ${why}`), false);
      return false;
    }
  }
  return true;
}

// The custody rule (custody.py) refuses a shipment of a lot the supplier does not hold; the API
// names events[0].data.lot, so the refusal shows beside the lot field like any other problem.
if ($("shipment-form")) {
  signedForm({
    form: "shipment-form",
    status: "shipment-status",
    buildEvent,
    summaryRows,
    rowProblem,
    setup: (changed) => $("add-document").addEventListener("click", () => addDocument(changed)),
    beforeSubmit: uploadDocuments,
  });
}

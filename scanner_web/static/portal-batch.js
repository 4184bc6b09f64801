// The supplier portal's production-lot form (/supplier/batch).
//
// Builds the batch event from the form; portal-form.js shows it before signing exactly as it will
// be signed (canonical.js's bytes, which are canonical.py's, and a readable summary), signs those
// bytes with a key this browser holds, submits it to POST /supplier/events (POST /api/v1/events as
// the session's supplier), and shows the API's problems next to the fields they name.

import { $, lotRef, number, signedForm, siteOf, siteText, session, words } from "./portal-form.js";

function inputRows() {
  return [...document.querySelectorAll("#inputs .input-row")];
}

function buildEvent() {
  const product = $("gtin").selectedOptions[0];
  const inputs = inputRows().map((row) => {
    const out = lotRef(row.querySelector(".in-lot").value);
    if (row.querySelector(".in-quantity").value.trim()) out.quantity = number(row.querySelector(".in-quantity").value);
    if (row.querySelector(".in-unit").value.trim()) out.unit = row.querySelector(".in-unit").value.trim();
    return out;
  });
  return {
    kind: "batch",
    supplier: session.supplier,
    key: $("key-id").value,
    data: {
      product: { gtin: product ? product.value : "", name: product ? product.dataset.name : "" },
      lot: $("lot").value.trim(),
      produced_on: $("produced_on").value,
      expires_on: $("expires_on").value,
      quantity: number($("quantity").value),
      unit: $("unit").value.trim(),
      site: siteOf("site"),
      inputs,
    },
  };
}

// "data.inputs[1].lot" -> beside the second input row.
function rowProblem(path, message) {
  const row = /^data\.inputs\[(\d+)\]/.exec(path);
  if (!row || !inputRows()[Number(row[1])]) return false;
  const el = inputRows()[Number(row[1])];
  el.querySelector(".problem").textContent += message + " ";
  el.querySelector(".in-lot").setAttribute("aria-invalid", "true");
  return true;
}

function summaryRows(event) {
  const d = event.data;
  return [
    [words.f_product, `${d.product.name} (${d.product.gtin})`],
    [words.f_lot, d.lot],
    [words.f_produced_on, d.produced_on],
    [words.f_expires_on, d.expires_on],
    [words.f_quantity, `${d.quantity} ${d.unit}`],
    [words.f_site, siteText(d.site)],
    [words.f_inputs, d.inputs.map((i) => `${i.gtin}/${i.lot}${i.quantity !== undefined ? ` ${i.quantity} ${i.unit || ""}` : ""}`).join("; ") || "—"],
  ];
}

function setup(changed) {
  $("add-input").addEventListener("click", () => {
    const row = $("input-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".remove").addEventListener("click", () => {
      row.remove();
      changed();
    });
    $("inputs").append(row);
  });
}

signedForm({ form: "batch-form", status: "batch-status", buildEvent, summaryRows, rowProblem, setup });

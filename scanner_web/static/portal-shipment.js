// The supplier portal's shipment and customs form (/supplier/shipment).
//
// Builds the shipment event (exactly core/events.py's ShipmentData: id, lot, quantity, unit,
// from_site, to_site, shipped_at, received_at?, customs?, consignee?) from the form; portal-form.js
// previews its canonical bytes, signs them with this browser's key and submits them, as the
// production-lot form does. Times are the browser's local date-time, sent as UTC ("...Z").

import { $, lotRef, number, signedForm, siteOf, siteText, session, words } from "./portal-form.js";

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
  ];
}

// The custody rule (custody.py) refuses a shipment of a lot the supplier does not hold; the API
// names events[0].data.lot, so the refusal shows beside the lot field like any other problem.
if ($("shipment-form")) {
  signedForm({ form: "shipment-form", status: "shipment-status", buildEvent, summaryRows });
}

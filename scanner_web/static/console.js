// The recall console (/console) for quality staff. Everything goes through the JSON API with the
// quality key as "Authorization: Bearer"; the key lives in a variable of this page only (never in
// any browser storage: a reload or another page asks for it again), kept once the API accepted it. Data from the API is put on the
// page with textContent, never as HTML.
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("console-strings").textContent);
  var API = "/api/v1";
  var RULE_S = 7200;
  var $ = function (id) { return document.getElementById(id); };
  var key = null;
  var traced = null;      // the last forward trace shown
  var selected = null;    // id of the recall whose clock is shown
  var holds = [];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function say(id, message, kind) {
    var node = $(id);
    node.textContent = message;
    node.className = "status" + (kind ? " " + kind : "");
  }

  // An API refusal as one readable line: the stable detail, then each field at fault.
  function problem(body, status) {
    var text = (body && body.detail) || ("HTTP " + status);
    var parts = ((body && body.problems) || []).map(function (p) { return (p.field ? p.field + ": " : "") + p.message; });
    return T.error + " (" + status + "): " + text + (parts.length ? " — " + parts.join("; ") : "");
  }

  function call(method, path, body) {
    var init = {method: method, headers: {"Authorization": "Bearer " + key, "Accept": "application/json"}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!r.ok) { var err = new Error(problem(data, r.status)); err.status = r.status; throw err; }
        return data;
      });
    });
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(r).padStart(2, "0");
  }

  function lotRef(x) { return x.gtin + "/" + x.lot; }

  // -- the key -------------------------------------------------------------------------------
  function useKey(candidate) {
    key = candidate;
    return call("GET", "/recalls").then(function (recalls) {
      say("key-status", T.key_ok, "ok");
      $("key").value = "";
      $("key-forget").hidden = false;
      $("work").hidden = false;
      showRecalls(recalls);
      loadHolds();
    }).catch(function (err) {
      key = null;
      $("work").hidden = true;
      say("key-status", err.message, "bad");
    });
  }

  $("key-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var candidate = $("key").value.trim();
    if (!candidate) { say("key-status", T.key_missing, "bad"); return; }
    useKey(candidate);
  });
  $("key-forget").addEventListener("click", function () {
    key = null;
    $("work").hidden = true;
    $("key-forget").hidden = true;
    say("key-status", "");
  });

  // -- holds and proposals: a running clock since the trigger ---------------------------------
  function loadHolds() {
    return call("GET", "/holds").then(function (list) { holds = list; showHolds(); })
      .catch(function (err) { $("holds").textContent = err.message; });
  }

  function showHolds() {
    var box = $("holds");
    box.textContent = "";
    if (!holds.length) { box.appendChild(el("p", {text: T.no_holds})); return; }
    var rows = holds.map(function (h) {
      var state = h.recall_id ? T.recall_word + " " + h.recall_id : T.proposal;
      var traceBtn = el("button", {type: "button", className: "small secondary", text: T.trace_go});
      traceBtn.addEventListener("click", function () { $("lot").value = lotRef(h); trace(); });
      return el("tr", {"data-hold": h.id}, [
        el("td", {text: lotRef(h)}), el("td", {text: h.reason + " (#" + h.trigger_event_id + ")"}),
        el("td", {text: state, className: h.recall_id ? "" : "proposal"}),
        el("td", {className: "nowrap running", "data-since": h.clock.trigger_at || ""}),
        el("td", {}, [traceBtn])]);
    });
    box.appendChild(el("div", {className: "table"}, [el("table", {}, [
      el("thead", {}, [el("tr", {}, [T.col_lot, T.hold_reason, T.hold_state, T.clock_running, ""].map(function (h) {
        return el("th", {text: h}); }))]),
      el("tbody", {}, rows)])]));
    tick();
  }

  // Time since each hold's trigger against the two-hour rule, updated every second in place.
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll("td.running"), function (td) {
      var at = td.getAttribute("data-since");
      var since = at ? (Date.now() - Date.parse(at)) / 1000 : null;
      td.textContent = since === null ? "–" : duration(since) + " / 2:00:00";
      td.classList.toggle("over", since !== null && since > RULE_S);
    });
  }

  // -- forward trace -----------------------------------------------------------------------
  function trace() {
    var lot = $("lot").value.trim();
    say("trace-status", "…");
    return call("GET", "/trace/forward?lot=" + encodeURIComponent(lot)).then(function (t) {
      traced = t;
      say("trace-status", "");
      showTrace(t);
    }).catch(function (err) {
      traced = null;
      $("trace").hidden = true;
      say("trace-status", err.message, "bad");
    });
  }

  // t is genealogy.trace_json: totals in t.counts, each lot's path as [{gtin, lot}] from the start lot.
  function showTrace(t) {
    var counts = $("counts");
    var n = t.counts;
    counts.textContent = "";
    [["lots", n.lots, T.counts_lots], ["items", n.items, T.counts_items], ["shipments", n.shipments, T.counts_shipments],
     ["sites", n.sites, T.counts_sites], ["scanned", n.scanned_items, T.counts_scanned],
     ["cases", n.cases, T.counts_cases], ["pallets", n.pallets, T.counts_pallets],
     ["sold", n.sold_items, T.counts_sold], ["orders", n.orders, T.counts_orders]].forEach(function (x) {
      counts.appendChild(el("li", {"data-count": x[0]}, [el("strong", {text: String(x[1])}), " " + x[2]]));
    });
    var body = document.querySelector("#trace-lots tbody");
    body.textContent = "";
    t.lots.forEach(function (x) {
      var box = el("input", {type: "checkbox", checked: "checked", "data-lot": lotRef(x), "aria-label": lotRef(x)});
      body.appendChild(el("tr", {}, [
        el("td", {}, [box]), el("td", {className: "nowrap", text: lotRef(x)}), el("td", {text: x.product}),
        el("td", {text: String(x.items)}), el("td", {text: String(x.scanned_items)}), el("td", {text: x.now_at || "–"}),
        el("td", {className: "path", text: x.path.map(function (p) { return p.lot; }).join(" → ")})]));
    });
    $("trace").hidden = false;
  }

  $("trace-form").addEventListener("submit", function (e) { e.preventDefault(); trace(); });

  // -- start a recall ------------------------------------------------------------------------
  $("recall-form").addEventListener("submit", function (e) {
    e.preventDefault();
    startRecall(false);
  });
  $("drill-go").addEventListener("click", function () {
    if ($("recall-form").reportValidity()) startRecall(true);
  });

  // A drill (mock recall) is the same request marked drill: true (docs/recall.md, "Mock recalls").
  function startRecall(drill) {
    if (!traced) return;
    var exclude = Array.prototype.filter.call(document.querySelectorAll("#trace-lots input[type=checkbox]"),
      function (b) { return !b.checked; }).map(function (b) { return b.getAttribute("data-lot"); });
    var widen = $("widen").value.split(/[\s,]+/).filter(Boolean);
    var trigger = $("trigger").value.trim();
    var body = {reason: $("reason").value.trim(), severity: $("severity").value, trace_lot: traced.start.value,
                exclude: exclude, lots: widen};
    if (trigger) body.trigger = trigger;
    if (drill) body.drill = true;
    say("recall-status", "…");
    call("POST", "/recalls", body).then(function (r) {
      say("recall-status", (drill ? T.drill_started : T.recall_started).replace("{id}", r.id), "ok");
      selected = r.id;
      return refresh();
    }).catch(function (err) { say("recall-status", err.message, "bad"); });
  }

  // -- recalls, their clock, reports -----------------------------------------------------------------
  function refresh() {
    return Promise.all([call("GET", "/recalls").then(showRecalls), loadHolds()])
      .catch(function (err) { say("key-status", err.message, "bad"); });
  }

  function showRecalls(list) {
    var box = $("recalls");
    box.textContent = "";
    if (!list.length) { box.appendChild(el("p", {text: T.no_recalls})); $("recall-detail").hidden = true; return; }
    var ul = el("ul", {className: "recalls"});
    list.slice().reverse().forEach(function (r) {
      var b = el("button", {type: "button", className: "link" + (r.id === selected ? " selected" : ""), "data-recall": r.id,
                            text: "#" + r.id + (r.drill ? " · " + T.drill_word : "") + " · " + T.severity_label + " " + r.severity + " · " + r.reason + " · " +
                                  (r.status === "closed" ? T.status_closed : T.status_active)});
      b.addEventListener("click", function () { selected = r.id; showRecalls(list); });
      ul.appendChild(el("li", {}, [b]));
    });
    box.appendChild(ul);
    var current = list.filter(function (r) { return r.id === selected; })[0];
    if (current) showDetail(current);
    else $("recall-detail").hidden = true;
  }

  function clockRow(label, seconds, id) {
    var pct = seconds === null ? 0 : Math.min(100, 100 * seconds / RULE_S);
    var fill = el("span");
    fill.style.width = pct.toFixed(1) + "%";  // through the CSSOM: the CSP refuses style attributes
    var bar = el("div", {className: "bar" + (seconds !== null && seconds > RULE_S ? " over" : "")}, [fill]);
    return el("div", {className: "clock-row", id: id}, [el("span", {className: "label", text: label}),
      el("strong", {text: duration(seconds)}), bar]);
  }

  function showDetail(r) {
    var box = $("recall-detail");
    box.textContent = "";
    var c = r.clock;
    var verdict = c.within_two_hours === null ? T.clock_none : (c.within_two_hours ? T.clock_within : T.clock_over);
    box.appendChild(el("h3", {text: "#" + r.id + " — " + r.reason}));
    if (r.drill) {
      box.appendChild(el("div", {className: "banner drill", id: "recall-drill", role: "note"},
        [el("strong", {text: T.drill_word}), " · " + T.drill_note]));
    }
    box.appendChild(el("dl", {}, [
      el("dt", {text: T.severity_label}), el("dd", {text: r.severity}),
      el("dt", {text: T.started_by}), el("dd", {text: r.started_by + " · " + new Date(r.started_at).toLocaleString()}),
      el("dt", {text: T.col_lot}), el("dd", {text: r.lots.join(", ")}),
      el("dt", {text: T.notice}), el("dd", {className: "hash", text: r.notice_status + " · 0x" + r.notice_digest +
                                                                  (r.tx_hash ? " · tx " + r.tx_hash : "")})]));
    var clock = el("div", {className: "clock", id: "clock"}, [el("h4", {text: T.clock_title}),
      clockRow(T.clock_located, c.to_located_s, "clock-located"), clockRow(T.clock_started, c.to_started_s, "clock-started"),
      el("p", {id: "clock-verdict", className: "verdict " + (c.within_two_hours === false ? "bad" : c.within_two_hours ? "ok" : ""),
               text: verdict})]);
    box.appendChild(clock);
    var downloads = el("div", {className: "downloads", id: "downloads"}, [el("h4", {text: T.reports})]);
    [["json", T.download_json], ["csv", T.download_csv], ["xlsx", T.download_xlsx]].forEach(function (f) {
      var b = el("button", {type: "button", className: "secondary", id: "download-" + f[0], text: f[1]});
      b.addEventListener("click", function () { download(r.id, f[0]); });
      downloads.appendChild(b);
    });
    downloads.appendChild(el("p", {id: "download-status", className: "status"}));
    box.appendChild(downloads);
    box.appendChild(showReports(r));
    var ledger = el("div", {className: "ledger", id: "ledger"}, [el("h4", {text: T.ledger_title})]);
    box.appendChild(ledger);
    box.hidden = false;
    loadLedger(r, ledger);
  }

  // The recall's ledger: who was told, who answered, what came back, the milestones against the clock.
  function loadLedger(r, box) {
    var reads = [call("GET", "/recalls/" + r.id + "/ledger")];
    if (r.drill) reads.push(call("GET", "/recalls/" + r.id + "/drill-report"));
    return Promise.all(reads).then(function (got) {
      if (got[1]) showDrill(got[1], box);
      showLedger(got[0], box);
      showDeadlines(got[0], r, box);
      showChecks(got[0], r, box);
    }).catch(function (err) { box.appendChild(el("p", {className: "status bad", text: err.message})); });
  }

  function reload(r) { showDetail(r); }

  // A drill's result: its timings from the drill's start and the percent accounted.
  function showDrill(d, box) {
    var list = el("ul", {className: "counts", id: "drill-result"});
    ["located", "started", "all_notified", "all_acknowledged", "all_accounted", "recall_closed"].forEach(function (name) {
      var t = d.timings[name];
      list.appendChild(el("li", {"data-timing": name}, [el("strong", {text: t && t.at ? "+" + duration(t.after_s) : "–"}),
        " " + (T["ms_" + name] || name)]));
    });
    Object.keys(d.percent_accounted).forEach(function (unit) {
      var pct = d.percent_accounted[unit];
      list.appendChild(el("li", {id: "drill-accounted-" + unit}, [el("strong", {text: pct === null ? "–" : pct + " %"}),
        " " + unit + " " + T.drill_accounted]));
    });
    box.appendChild(el("h4", {text: T.drill_result}));
    box.appendChild(list);
    box.appendChild(el("p", {id: "drill-verdict", className: "verdict " + (d.within_two_hours ? "ok" : "bad"),
                             text: d.within_two_hours ? T.drill_within : T.drill_over}));
  }

  // Regulatory deadlines: due, done, met / due / late; staff record the steps the product cannot see.
  function showDeadlines(l, r, box) {
    box.appendChild(el("h4", {text: T.deadlines_title}));
    var body = el("tbody");
    l.deadlines.forEach(function (d) {
      body.appendChild(el("tr", {"data-deadline": d.name, className: "dl-" + d.status}, [
        el("td", {text: T["dl_" + d.name] || d.name, title: d.basis}),
        el("td", {className: "nowrap", text: new Date(d.due).toLocaleString()}),
        el("td", {className: "nowrap", text: d.done ? new Date(d.done).toLocaleString() : "–"}),
        el("td", {className: "status-cell", text: T["dl_" + d.status] || d.status})]));
    });
    box.appendChild(el("div", {className: "table"}, [el("table", {id: "ledger-deadlines"}, [
      el("thead", {}, [el("tr", {}, [T.col_deadline, T.col_due, T.col_done, T.col_status].map(function (h) {
        return el("th", {text: h}); }))]), body])]));
    if (r.status === "closed") return;
    var pick = el("select", {id: "milestone-name", "aria-label": T.milestone_label});
    ["fda_telephoned", "fda_written_report", "fda_status_report", "cn_plan_reported", "cn_announced"].forEach(function (n) {
      pick.appendChild(el("option", {value: n, text: T["ms_" + n] || n}));
    });
    var go = el("button", {type: "submit", className: "small", id: "milestone-go", text: T.milestone_go});
    var form = el("form", {id: "milestone-form", className: "row"}, [el("label", {text: T.milestone_label}), pick, go]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      call("POST", "/recalls/" + r.id + "/milestones", {name: pick.value}).then(function () { reload(r); })
        .catch(function (err) { say("milestone-status", err.message, "bad"); });
    });
    box.appendChild(form);
    box.appendChild(el("p", {id: "milestone-status", className: "status", role: "status"}));
  }

  function yesNo(v) { return v === null || v === undefined ? "–" : (v ? T.check_yes : T.check_no); }

  // Effectiveness checks: draw the sites for a level (once), then record what each check found.
  function showChecks(l, r, box) {
    var e = l.effectiveness;
    box.appendChild(el("h4", {text: T.checks_title}));
    var section = el("div", {id: "checks"});
    box.appendChild(section);
    if (!e.level) {
      section.appendChild(el("p", {text: T.checks_none}));
      if (r.status === "closed") return;
      var level = el("select", {id: "check-level", "aria-label": T.checks_level});
      ["A", "B", "C", "D", "E"].forEach(function (v) { level.appendChild(el("option", {value: v, text: v})); });
      level.value = "C";
      var pct = el("input", {id: "check-percent", inputmode: "decimal", size: "6", placeholder: T.checks_percent,
                             "aria-label": T.checks_percent});
      var seed = el("input", {id: "check-seed", size: "12", maxlength: "64", placeholder: T.checks_seed,
                              "aria-label": T.checks_seed});
      var form = el("form", {id: "checks-form", className: "row"}, [el("label", {text: T.checks_level}), level, pct, seed,
        el("button", {type: "submit", className: "small", id: "checks-draw", text: T.checks_draw})]);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var body = {level: level.value};
        if (pct.value.trim()) body.percent = Number(pct.value.trim());
        if (seed.value.trim()) body.seed = seed.value.trim();
        call("POST", "/recalls/" + r.id + "/checks", body).then(function () { reload(r); })
          .catch(function (err) { say("checks-status", err.message, "bad"); });
      });
      section.appendChild(form);
      section.appendChild(el("p", {id: "checks-status", className: "status", role: "status"}));
      return;
    }
    var share = e.share_effective === null ? "–" : Math.round(e.share_effective * 100) + " %";
    section.appendChild(el("p", {id: "checks-summary", text: T.checks_summary.replace("{level}", e.level)
      .replace("{drawn}", e.drawn).replace("{checked}", e.checked).replace("{effective}", e.effective)
      .replace("{share}", share) + " · seed " + e.seed}));
    var body = el("tbody");
    e.checks.forEach(function (c) {
      var boxes = ["reached", "notice_received", "handled"].map(function (k) {
        var b = el("input", {type: "checkbox", "data-field": k, "aria-label": c.site + " " + k});
        b.checked = c[k] === true;
        return b;
      });
      var save = el("button", {type: "button", className: "small secondary", text: T.check_record});
      save.addEventListener("click", function () {
        call("PUT", "/recalls/" + r.id + "/checks/" + encodeURIComponent(c.site),
             {reached: boxes[0].checked, notice_received: boxes[1].checked, handled: boxes[2].checked})
          .then(function () { reload(r); })
          .catch(function (err) { say("checks-status", err.message, "bad"); });
      });
      body.appendChild(el("tr", {"data-check": c.site, className: c.effective === false ? "open" : ""}, [
        el("td", {text: c.site}),
        el("td", {}, [boxes[0]]), el("td", {}, [boxes[1]]), el("td", {}, [boxes[2]]),
        el("td", {text: c.checked_at ? c.checked_by + " · " + new Date(c.checked_at).toLocaleString() : "–"}),
        el("td", {text: c.checked_at ? yesNo(c.effective) : "–"}),
        el("td", {}, r.status === "closed" ? [] : [save])]));
    });
    section.appendChild(el("div", {className: "table"}, [el("table", {id: "checks-table"}, [
      el("thead", {}, [el("tr", {}, [T.col_site, T.col_reached, T.col_received, T.col_handled, T.col_checked,
        T.col_effective, ""].map(function (h) { return el("th", {text: h}); }))]), body])]));
    section.appendChild(el("p", {id: "checks-status", className: "status", role: "status"}));
  }

  function num(v) { return v === null || v === undefined ? "–" : String(Math.round(v * 1000) / 1000); }

  function showLedger(l, box) {
    var s = l.sites;
    var counts = el("ul", {className: "counts", id: "ledger-counts"});
    [["sites", s.total, T.ledger_sites], ["notified", s.notified, T.ledger_notified], ["answered", s.answered, T.ledger_answered],
     ["share", s.share_answered === null ? "–" : Math.round(s.share_answered * 100) + " %", T.ledger_share]].forEach(function (x) {
      counts.appendChild(el("li", {id: "ledger-" + x[0]}, [el("strong", {text: String(x[1])}), " " + x[2]]));
    });
    Object.keys(l.totals).forEach(function (unit) {
      counts.appendChild(el("li", {id: "ledger-unaccounted-" + unit}, [el("strong", {text: num(l.totals[unit].unaccounted)}),
        " " + unit + " " + T.ledger_unaccounted]));
    });
    [["buyers", l.buyers, T.ledger_buyers], ["consumers", l.consumers, T.ledger_consumers]].forEach(function (x) {
      if (!x[1] || !x[1].notified) return;  // people told of the recall (recall/consumers.py): reached, opened
      counts.appendChild(el("li", {id: "ledger-" + x[0]}, [el("strong", {text: x[1].reached + "/" + x[1].notified}),
        " " + x[2] + " " + T.ledger_reached + " · " + x[1].opened + " " + T.ledger_opened]));
    });
    box.appendChild(counts);
    var ms = el("ol", {className: "milestones", id: "ledger-milestones"});
    l.milestones.forEach(function (m) {
      var late = m.within_two_hours === false;
      ms.appendChild(el("li", {className: (m.at ? "done" : "open") + (late ? " over" : ""), "data-milestone": m.name},
        [el("span", {className: "label", text: T["ms_" + m.name] || m.name}), " ",
         el("strong", {text: m.at ? "+" + duration(m.after_s) : T.ledger_pending})]));
    });
    box.appendChild(el("h4", {text: T.ledger_milestones}));
    box.appendChild(ms);
    var sites = {};
    l.site_list.forEach(function (x) { sites[x.site] = x; });
    var heads = [T.col_site, T.col_lot, T.col_shipped, T.col_acknowledged, T.col_on_hand, T.col_returned, T.col_destroyed,
                 T.col_unaccounted, T.col_notices];
    var body = el("tbody");
    l.rows.forEach(function (r) {
      var notices = (sites[r.site] || {notices: []}).notices.map(function (n) { return n.channel + ": " + n.status; });
      body.appendChild(el("tr", {"data-site": r.site, "data-lot": r.lot}, [
        el("td", {text: (sites[r.site] || {}).name || r.site}), el("td", {text: r.lot}), el("td", {text: num(r.shipped) + " " + r.unit}),
        el("td", {text: r.acknowledged ? "✓" : "–"}), el("td", {text: num(r.on_hand)}), el("td", {text: num(r.returned)}),
        el("td", {text: num(r.destroyed)}), el("td", {className: r.unaccounted > 0 ? "open" : "", text: num(r.unaccounted)}),
        el("td", {text: notices.length ? notices.join(", ") : T.ledger_no_contact})]));
    });
    box.appendChild(el("div", {className: "table"}, [el("table", {id: "ledger-rows"}, [
      el("thead", {}, [el("tr", {}, heads.map(function (h) { return el("th", {text: h}); }))]), body])]));
  }

  // A file needs the key, so it is fetched here and handed to the browser as a download named as
  // the server's Content-Disposition names it. Resolves to {name, sha256} (X-Report-SHA256, if any).
  function fetchFile(path, fallback) {
    return fetch(API + path, {headers: {"Authorization": "Bearer " + key}}).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return null; }).then(function (b) { throw new Error(problem(b, r.status)); });
      var named = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
      var file = {name: named ? named[1] : fallback, sha256: r.headers.get("X-Report-SHA256")};
      return r.blob().then(function (blob) {
        var url = URL.createObjectURL(blob);
        var a = el("a", {href: url, download: file.name});
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
        return file;
      });
    });
  }

  function download(id, format) {
    fetchFile("/recalls/" + id + "/report?format=" + format, "recall-" + id + "." + format)
      .catch(function (err) { say("download-status", err.message, "bad"); });
  }

  // -- regulatory reports (docs/recall.md, "Reports from the ledger") --------------------------------
  var REPORTS = [["written", ["pdf", "xlsx"]], ["status", ["pdf", "xlsx"]], ["plan", ["pdf"]], ["summary", ["pdf"]],
                 ["display", ["pdf"]]];
  var lastReport = null;  // {recall, name, sha256}: the last download, shown again when the detail is redrawn

  // A button per report and format; each download is generated and filed by the server, its SHA-256 shown.
  function showReports(r) {
    var box = el("div", {className: "downloads", id: "reports"}, [el("h4", {text: T.rpt_title})]);
    if (r.drill) box.appendChild(el("p", {className: "intro", id: "reports-drill", text: T.rpt_drill_note}));
    var contact = el("input", {id: "report-contact", maxlength: "200", placeholder: T.rpt_contact, "aria-label": T.rpt_contact});
    REPORTS.forEach(function (x) {
      var row = el("div", {className: "row report-row"}, [el("span", {className: "label", text: T["rpt_" + x[0]]})]);
      x[1].forEach(function (fmt) {
        var b = el("button", {type: "button", className: "small secondary", id: "report-" + x[0] + "-" + fmt,
                              text: fmt.toUpperCase()});
        b.addEventListener("click", function () { fileReport(r, x[0], fmt, contact.value.trim()); });
        row.appendChild(b);
      });
      if (x[0] === "display") row.appendChild(contact);
      box.appendChild(row);
    });
    var status = el("p", {id: "report-status", className: "status", role: "status"});
    box.appendChild(status);
    if (lastReport && lastReport.recall === r.id) showSaved(status, lastReport);
    var filed = el("div", {id: "filed"});
    var again = el("button", {type: "button", className: "small secondary", id: "filed-refresh", text: T.rpt_recheck});
    again.addEventListener("click", function () { loadFiled(r, filed); });
    box.appendChild(el("h4", {text: T.rpt_filed}));
    box.appendChild(filed);
    box.appendChild(again);
    loadFiled(r, filed);
    return box;
  }

  function showSaved(node, file) {
    node.className = "status ok";
    node.textContent = T.rpt_saved.replace("{name}", file.name) + " ";
    node.appendChild(el("code", {id: "report-sha", className: "hash", text: file.sha256 || "–"}));
  }

  function fileReport(r, report, fmt, contact) {
    say("report-status", "…");
    var path = "/recalls/" + r.id + "/reports/" + report + "." + fmt;
    if (report === "display" && contact) path += "?contact=" + encodeURIComponent(contact);
    fetchFile(path, "recall-" + r.id + "-" + report + "." + fmt).then(function (file) {
      lastReport = {recall: r.id, name: file.name, sha256: file.sha256};
      showSaved($("report-status"), lastReport);
      var filed = $("filed");
      if (filed) loadFiled(r, filed);
    }).catch(function (err) { say("report-status", err.message, "bad"); });
  }

  // The filed list, each with its anchoring status from the proof route (VALID, PENDING, ...).
  function loadFiled(r, box) {
    return call("GET", "/recalls/" + r.id + "/reports").then(function (list) {
      return Promise.all(list.map(function (f) { return call("GET", "/recall-reports/" + f.sha256 + "/proof"); }))
        .then(function (proofs) { showFiled(list, proofs, box); });
    }).catch(function (err) { box.textContent = ""; box.appendChild(el("p", {className: "status bad", text: err.message})); });
  }

  function showFiled(list, proofs, box) {
    box.textContent = "";
    if (!list.length) { box.appendChild(el("p", {text: T.rpt_none})); return; }
    var body = el("tbody");
    list.forEach(function (f, i) {
      var st = proofs[i].status;
      body.appendChild(el("tr", {"data-sha": f.sha256, "data-status": st, className: "anchor-" + st.replace(/ /g, "-")}, [
        el("td", {text: T["rpt_" + f.report] || f.report}), el("td", {text: f.format.toUpperCase()}),
        el("td", {className: "nowrap", text: new Date(f.at).toLocaleString() + " · " + f.by}),
        el("td", {className: "hash", text: f.sha256}),
        el("td", {className: "anchor-cell"}, [el("strong", {text: st}), " " + (T["anchor_" + st] || "")])]));
    });
    box.appendChild(el("div", {className: "table"}, [el("table", {id: "filed-reports"}, [
      el("thead", {}, [el("tr", {}, [T.col_report, T.col_format, T.col_filed, "SHA-256", T.col_anchor].map(function (h) {
        return el("th", {text: h}); }))]), body])]));
  }

  setInterval(tick, 1000);
  setInterval(function () { if (key && !$("work").hidden) refresh(); }, 15000);    // notice status, new holds
})();

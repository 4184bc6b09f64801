"""The recall's reports to regulators and to shops, from one data source: the recall's ledger.

``gather`` reads the facts once (the recall, its ledger, its lots as the batch records state them,
the status reports filed before); each report is a rendering of those ``Facts``:

* ``written``: the initial written report of 21 CFR 107.240(b) (within 14 days of the start): the
  number of consignees notified, with date and method, and the retail display notice; the number
  responding and the quantity on hand at each; the quantity returned or corrected by each and the
  quantity accounted for; the number and results of effectiveness checks; the time to completion
  (the milestones so far). PDF and XLSX.
* ``status``: the status report of 21 CFR 107.240(c) (at least every 14 days until the recall is
  terminated): the steps taken since the last status report (notices sent, answers received,
  milestones reached) and their results, with the same cumulative figures. PDF and XLSX.
* ``plan``: 召回计划, following the contents the Food Recall Administrative Measures
  (食品召回管理办法, SAMR) list for a recall plan (article 16: producer, food and batches and
  quantity and area, reason and hazard, level and deadlines, notice and how it is published, duties
  of other operators, disposal and costs, expected effect), with the level-based deadlines of
  article 13 (一级: start within 24 h, finish within 10 working days; 二级 48 h / 20; 三级
  72 h / 30). What the ledger cannot know (legal representative, telephone, costs) is printed as a
  blank "to be completed by the producer" (待生产者填写). PDF, Chinese.
* ``summary``: 召回总结报告, the report to the market regulator when the recall is complete: the
  plan's items against what happened (notices, answers, quantities, disposal, effect). PDF, Chinese.
* ``display``: the notice for display at retail (107.240(b)(1) asks for one and for the request to
  display it): product, lots, what to do, whom to call; Chinese and English. PDF.

Consumers' contact data and scan locations are never in a report (counts only, as in report.py).
Effectiveness checks are printed from the ledger's ``effectiveness`` (the checks done, with their
outcome) when it has them; otherwise their section says, clearly, that none are recorded. A mock
recall (the ledger's ``drill``) is marked as one in every report's title. PDFs are written with reportlab in
"invariant" mode (no creation time or random id inside), so the same facts give the same bytes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select as select_columns
from sqlmodel import Session, col

from cradletrace import spreadsheet
from cradletrace.recall.ledger import build_ledger
from cradletrace.recall.recalls import RecallView, get_recall
from cradletrace.store.models import EventRow, Lot, RecallLot, Supplier
from cradletrace.store.states import DeliveryStatus

# report -> the formats it is made in
REPORTS: dict[str, tuple[str, ...]] = {
    "written": ("pdf", "xlsx"),
    "status": ("pdf", "xlsx"),
    "plan": ("pdf",),
    "summary": ("pdf",),
    "display": ("pdf",),
}
TITLES = {
    "written": "Infant formula recall: written report (21 CFR 107.240(b))",
    "status": "Infant formula recall: status report (21 CFR 107.240(c))",
    "plan": "食品召回计划",
    "summary": "食品召回总结报告",
    "display": "召回通知 RECALL NOTICE",
}
CONTENT_TYPES = {"pdf": "application/pdf", "xlsx": spreadsheet.CONTENT_TYPE}
STATUS_EVERY = timedelta(days=14)
NO_CHECKS = (
    "No effectiveness checks are recorded for this recall: this section is empty, not a result. "
    "(Checks are recorded with the recall's ledger; none were found.)"
)
NO_CHECKS_ZH = "本次召回尚未记录有效性核查：此部分为空，并非核查结果。"
TO_FILL = "（待生产者填写）"
# 食品召回管理办法 article 13: level -> (hours to start, working days to finish)
CN_LEVELS = {"I": ("一级", 24, 10), "II": ("二级", 48, 20), "III": ("三级", 72, 30)}
CHANNELS = {"email": "e-mail", "webhook": "signed webhook"}


@dataclass(frozen=True)
class Facts:
    """What every report is rendered from, read once."""

    recall: RecallView
    ledger: dict[str, Any]
    lots: tuple[dict[str, Any], ...]  # per lot: gtin, lot, product, quantity, unit, produced_on, site, maker
    since: datetime | None  # the last status report filed before this one (status reports only)
    generated_at: datetime
    generated_by: str

    @property
    def checks(self) -> list[dict[str, Any]] | None:
        """The effectiveness checks done so far (site, when, outcome), from the ledger's
        ``effectiveness`` (recall/effectiveness.py: consignees drawn at random, each checked for
        reached / notice received / handled as instructed); None when there are none."""
        found = (self.ledger.get("effectiveness") or {}).get("checks") or []
        done = [
            {
                "site": c["site"],
                "at": c.get("checked_at"),
                "outcome": "effective"
                if c.get("effective")
                else "not effective: "
                + ", ".join(
                    f"{name} {'yes' if c.get(key) else 'no'}"
                    for key, name in (
                        ("reached", "reached"),
                        ("notice_received", "notice received"),
                        ("handled", "handled"),
                    )
                ),
            }
            for c in found
            if c.get("checked_at")
        ]
        return done or None

    @property
    def drill(self) -> bool:
        """A mock recall: every report says so in its title (recall/drill.py)."""
        return bool(self.ledger.get("drill"))


def gather(session: Session, recall_id: int, now: datetime, by: str, since: datetime | None = None) -> Facts:
    view = get_recall(session, recall_id)
    ledger = build_ledger(session, recall_id).to_json()
    lots = []
    for g, lo, product, sid, name, body in session.execute(
        select_columns(
            col(Lot.gtin), col(Lot.lot), col(Lot.product), col(Lot.supplier_id), col(Supplier.name), col(EventRow.body)
        )
        .join(RecallLot, col(RecallLot.lot_id) == col(Lot.id))
        .join(EventRow, col(EventRow.id) == col(Lot.event_id))
        .join(Supplier, col(Supplier.id) == col(Lot.supplier_id))
        .where(col(RecallLot.recall_id) == recall_id)
        .order_by(col(Lot.gtin), col(Lot.lot))
    ).all():
        d = json.loads(body)["data"]
        lots.append(
            {
                "gtin": g,
                "lot": lo,
                "product": product,
                "quantity": d["quantity"],
                "unit": d["unit"],
                "produced_on": d.get("produced_on"),
                "site": d["site"]["name"],
                "maker": name or sid,
            }
        )
    return Facts(view, ledger, tuple(lots), since, now, by)


def render(facts: Facts, report: str, fmt: str, contact: str | None = None) -> bytes:
    """The report's bytes; ``contact`` (the display notice's "whom to call") defaults to the maker."""
    if fmt not in REPORTS.get(report, ()):
        raise ValueError(f"{report}.{fmt}")
    if fmt == "xlsx":
        return _xlsx(facts, report)
    blocks = _display(facts, contact) if report == "display" else _BODIES[report](facts)
    return _pdf(
        _title(facts, report), blocks, chinese=report in ("plan", "summary", "display"), large=report == "display"
    )


DRILL = "模拟召回（演练）MOCK RECALL (DRILL): "


def _title(facts: Facts, report: str) -> str:
    return (DRILL if facts.drill else "") + TITLES[report]


# -- the figures, shared by every rendering ------------------------------------------------------


def _t(value: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM UTC' (or a dash)."""
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _n(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.3f}".rstrip("0")


def figures(facts: Facts) -> dict[str, Any]:
    """The cumulative figures 107.240(b) asks for, as the ledger has them."""
    led = facts.ledger
    sites = led["sites"]
    channels: dict[str, int] = {}
    sent_times = []
    for s in led["site_list"]:
        for n in s["notices"]:
            if n["status"] == DeliveryStatus.SENT:
                channels[n["channel"]] = channels.get(n["channel"], 0) + 1
                sent_times.append(n["sent_at"])
    totals = led["totals"]
    return {
        "sites": sites["total"],
        "notified": sites["notified"],
        "answered": sites["answered"],
        "share": sites["share_answered"],
        "without_contact": len(sites["without_contact"]),
        "channels": channels,
        "first_sent": min(sent_times) if sent_times else None,
        "last_sent": max(sent_times) if sent_times else None,
        "totals": {u: {**t, "accounted": round(t["shipped"] - t["unaccounted"], 6)} for u, t in sorted(totals.items())},
        "without_consignee": led["without_consignee"],
    }


def _lot_refs(facts: Facts) -> str:
    return ", ".join(f"{x['gtin']}/{x['lot']}" for x in facts.lots)


def _products(facts: Facts) -> str:
    return "; ".join(sorted({x["product"] for x in facts.lots}))


def _site_names(facts: Facts) -> dict[str, str]:
    return {s["site"]: s["name"] for s in facts.ledger["site_list"]}


def _ledger_rows(facts: Facts) -> list[list[str]]:
    names = _site_names(facts)
    return [
        [
            names.get(r["site"], r["site"]),
            r["lot"],
            r["unit"],
            _n(r["shipped"]),
            _n(r["on_hand"]),
            _n(r["returned"]),
            _n(r["destroyed"]),
            _n(r["unaccounted"]),
            _t(r["answered_at"]) if r["acknowledged"] else "no answer",
        ]
        for r in facts.ledger["rows"]
    ]


LEDGER_HEAD = ["Consignee", "Lot", "Unit", "Shipped", "On hand", "Returned", "Destroyed", "Unaccounted", "Answered"]
LEDGER_HEAD_ZH = ["收货方", "批次", "单位", "发货量", "库存", "退回", "销毁", "未查清", "答复时间"]

# -- PDF bodies: lists of blocks ("h", text) | ("p", text) | ("kv", rows) | ("table", head, rows) ----

Block = tuple[Any, ...]


def _common_en(facts: Facts) -> list[Block]:
    v = facts.recall.to_json()
    return [
        (
            "kv",
            [
                ("Recall", f"#{v['id']}, class {v['severity']}, {v['status']}"),
                ("Reason", v["reason"]),
                ("Product", _products(facts)),
                ("Lots (GTIN/lot)", _lot_refs(facts)),
                ("Started", f"{_t(v['started_at'])} by {v['started_by']}"),
                ("Notice on chain", f"SHA-256 {v['notice_digest']} ({v['notice_status']})"),
                (
                    "Generated",
                    f"{_t(facts.generated_at.isoformat())} by {facts.generated_by}, from the recall's ledger",
                ),
            ],
        ),
        (
            "table",
            ["GTIN", "Lot", "Product", "Quantity made", "Unit", "Made on", "Site"],
            [
                [x["gtin"], x["lot"], x["product"], _n(x["quantity"]), x["unit"], x["produced_on"] or "-", x["site"]]
                for x in facts.lots
            ],
        ),
    ]


def _quantities_en(f: dict[str, Any]) -> Block:
    return (
        "table",
        ["Unit", "Shipped", "On hand", "Returned", "Destroyed", "Accounted for", "Unaccounted"],
        [
            [u, _n(t["shipped"]), _n(t["on_hand"]), _n(t["returned"]), _n(t["destroyed"]), _n(t["accounted"]),
             _n(t["unaccounted"])]
            for u, t in f["totals"].items()
        ],
    )  # fmt: skip


def _checks_en(facts: Facts, number: str = "") -> list[Block]:
    checks = facts.checks
    if checks is None:
        return [("h", f"{number}Effectiveness checks: none recorded"), ("p", NO_CHECKS)]
    return [
        ("h", f"{number}Effectiveness checks ({len(checks)})"),
        ("table", ["Consignee", "When", "Outcome"], [[str(c.get("site")), _t(c.get("at")), str(c.get("outcome"))] for c in checks]),
    ]  # fmt: skip


def _milestones_en(facts: Facts) -> Block:
    return (
        "table",
        ["Milestone", "Reached", "Hours from trigger/start"],
        [
            [m["name"].replace("_", " "), _t(m["at"]), "-" if m["after_s"] is None else f"{m['after_s'] / 3600:.2f}"]
            for m in facts.ledger["milestones"]
        ],
    )


def _written(facts: Facts) -> list[Block]:
    f = figures(facts)
    how = ", ".join(f"{n} by {CHANNELS.get(c, c)}" for c, n in sorted(f["channels"].items())) or "none sent yet"
    wc = f["without_consignee"]
    return [
        *_common_en(facts),
        ("h", "1. Consignees notified"),
        (
            "kv",
            [
                ("Consignees notified", f"{f['notified']} of {f['sites']}"),
                ("Method", how),
                ("Date", f"first {_t(f['first_sent'])}, last {_t(f['last_sent'])}"),
                ("Without a contact (not notified)", str(f["without_contact"])),
                (
                    "Shipments naming no consignee",
                    f"{wc['shipments']} ({', '.join(f'{_n(q)} {u}' for u, q in wc['quantity'].items()) or '-'})",
                ),
                (
                    "Retail display notice",
                    "generated with these reports (display.pdf, Chinese and English); every notice asks the "
                    "consignee to display it where the product is sold",
                ),
            ],
        ),
        ("h", "2. Consignees responding, and quantity on hand at each"),
        (
            "kv",
            [
                ("Consignees responding", f"{f['answered']} of {f['sites']}"),
                ("Share responding", "-" if f["share"] is None else f"{f['share'] * 100:.1f} %"),
            ],
        ),
        ("table", LEDGER_HEAD, _ledger_rows(facts)),
        ("h", "3. Quantity returned or corrected, and quantity accounted for"),
        _quantities_en(f),
        *_checks_en(facts, "4. "),
        ("h", "5. Time to completion: milestones so far"),
        _milestones_en(facts),
    ]


def _status(facts: Facts) -> list[Block]:
    f = figures(facts)
    since = facts.since or facts.recall.recall.started_at
    since_iso = since.astimezone(UTC).isoformat()

    def after(t: str | None) -> bool:
        return t is not None and datetime.fromisoformat(t) > since

    names = _site_names(facts)
    sent = [
        [names.get(s["site"], s["site"]), CHANNELS.get(n["channel"], n["channel"]), _t(n["sent_at"])]
        for s in facts.ledger["site_list"]
        for n in s["notices"]
        if n["status"] == DeliveryStatus.SENT and after(n["sent_at"])
    ]
    answered = [
        row for row, r in zip(_ledger_rows(facts), facts.ledger["rows"], strict=True) if after(r["answered_at"])
    ]
    reached = [m for m in facts.ledger["milestones"] if after(m["at"])]
    outstanding = [
        [names.get(s["site"], s["site"]), ", ".join(f"{n['channel']}: {n['status']}" for n in s["notices"]) or "no contact"]
        for s in facts.ledger["site_list"]
        if s["answered"] < s["acks"]
    ]  # fmt: skip
    return [
        *_common_en(facts),
        (
            "kv",
            [
                (
                    "Period",
                    f"since {_t(since_iso)} ({'the last status report' if facts.since else 'the start of the recall'})",
                ),
                ("Next status report due", _t((facts.generated_at + STATUS_EVERY).isoformat())),
            ],
        ),
        ("h", "Steps taken since the last report"),
        (
            "p",
            f"Notices delivered: {len(sent)}. Answers received: {len(answered)}. Milestones reached: {len(reached)}.",
        ),
        ("table", ["Consignee", "Channel", "Delivered"], sent),
        ("table", LEDGER_HEAD, answered),
        ("table", ["Milestone", "Reached"], [[m["name"].replace("_", " "), _t(m["at"])] for m in reached]),
        ("h", "Results so far (cumulative)"),
        (
            "kv",
            [
                ("Consignees notified", f"{f['notified']} of {f['sites']}"),
                ("Consignees responding", f"{f['answered']} of {f['sites']}"),
            ],
        ),
        _quantities_en(f),
        ("h", "Consignees still to answer"),
        ("table", ["Consignee", "Notices"], outstanding),
        *_checks_en(facts),
        ("h", "Milestones"),
        _milestones_en(facts),
    ]


def _level(facts: Facts) -> tuple[str, int, int]:
    return CN_LEVELS.get(facts.recall.recall.severity, ("（未定级）", 0, 0))


def _producers(facts: Facts) -> str:
    return "；".join(sorted({x["maker"] for x in facts.lots}))


def _plan(facts: Facts) -> list[Block]:
    r = facts.recall.recall
    name, hours, days = _level(facts)
    f = figures(facts)
    return [
        ("p", "依据《食品召回管理办法》第十六条所列召回计划内容编制；召回等级与时限依据第十三条。"),
        ("h", "一、食品生产者基本情况"),
        (
            "kv",
            [
                ("名称", _producers(facts)),
                ("住所", TO_FILL),
                ("法定代表人", TO_FILL),
                ("具体负责人", f"{r.started_by}（召回发起人）"),
                ("联系电话、电子邮箱", TO_FILL),
            ],
        ),
        ("h", "二、召回食品"),
        (
            "table",
            ["食品名称", "商品条码（GTIN）", "批次", "生产日期", "数量", "单位"],
            [[x["product"], x["gtin"], x["lot"], x["produced_on"] or "-", _n(x["quantity"]), x["unit"]] for x in facts.lots],
        ),
        ("kv", [("商标、规格", TO_FILL), ("召回区域范围", f"收到上述批次的全部 {f['sites']} 个收货方（见附表）")]),
        ("h", "三、召回原因及危害后果"),
        ("p", r.reason),
        ("h", "四、召回等级、流程及时限"),
        (
            "kv",
            [
                ("召回等级", f"{name}（召回类别 {r.severity}）"),
                ("启动时限", f"知悉后 {hours} 小时内启动召回" if hours else TO_FILL),
                ("完成时限", f"{days} 个工作日内完成召回" if days else TO_FILL),
                ("已启动", _t(r.started_at.astimezone(UTC).isoformat())),
                ("流程", "通知全部收货方 → 收货方确认并报告库存、退回、销毁数量 → 核对台账 → 有效性核查 → 总结报告"),
            ],
        ),
        ("h", "五、召回通知的内容及发布方式"),
        (
            "p",
            "召回通知包括召回编号、原因、等级、批次及发往该收货方的数量和一次性确认链接；"
            "以电子邮件和签名 Webhook 立即发送至每个收货方，召回公告的摘要（不含个人信息）锚定于区块链；"
            "消费者扫描受影响产品时即显示召回提示；零售张贴通知另附。",
        ),
        ("h", "六、相关食品生产经营者的义务和责任"),
        ("p", "收到通知的经营者应立即停止销售、封存库存，在确认页报告收到情况、库存、退回和销毁数量，并在售卖场所张贴召回通知。"),
        ("h", "七、召回食品的处置措施、费用承担情况"),
        ("kv", [("处置措施", "退回生产者或就地销毁，数量逐一记录于召回台账"), ("费用承担", TO_FILL)]),
        ("h", "八、召回的预期效果"),
        ("p", "全部收货方在完成时限内答复，发货数量 100% 查清（库存、退回或销毁），未查清数量为零。"),
        ("h", "附表：收货方"),
        ("table", LEDGER_HEAD_ZH, _ledger_rows(facts)),
    ]  # fmt: skip


def _summary(facts: Facts) -> list[Block]:
    r = facts.recall.recall
    name, hours, days = _level(facts)
    f = figures(facts)
    share = "-" if f["share"] is None else f"{f['share'] * 100:.1f}%"
    milestones = {m["name"]: m for m in facts.ledger["milestones"]}
    zh_names = {
        "located": "定位问题批次",
        "started": "启动召回",
        "all_notified": "全部通知送达",
        "all_acknowledged": "全部收货方答复",
        "all_accounted": "数量全部查清",
        "recall_closed": "召回结束",
    }
    checks = facts.checks
    return [
        ("p", "依据《食品召回管理办法》召回完成后提交召回总结报告的要求，按召回计划各项列明实施情况。"),
        ("h", "一、基本情况"),
        (
            "kv",
            [
                ("召回编号", f"#{r.id}（{'已结束' if r.closed_at else '进行中'}）"),
                ("食品生产者", _producers(facts)),
                ("召回食品", _products(facts)),
                ("批次", _lot_refs(facts)),
                ("召回原因", r.reason),
                ("召回等级", f"{name}（类别 {r.severity}）"),
            ],
        ),
        ("h", "二、实施过程"),
        (
            "table",
            ["环节", "时间", "距起算（小时）"],
            [
                [zh_names.get(k, k), _t(m["at"]), "-" if m["after_s"] is None else f"{m['after_s'] / 3600:.2f}"]
                for k, m in milestones.items()
            ],
        ),
        (
            "kv",
            [
                ("启动时限", f"{hours} 小时" if hours else "-"),
                ("完成时限", f"{days} 个工作日" if days else "-"),
            ],
        ),
        ("h", "三、通知及答复情况"),
        (
            "kv",
            [
                ("收货方总数", str(f["sites"])),
                ("已通知", str(f["notified"])),
                ("已答复", str(f["answered"])),
                ("答复比例", share),
                ("无联系方式（未通知）", str(f["without_contact"])),
            ],
        ),
        ("h", "四、召回数量及处置情况"),
        (
            "table",
            ["单位", "发货量", "库存", "退回", "销毁", "已查清", "未查清"],
            [
                [u, _n(t["shipped"]), _n(t["on_hand"]), _n(t["returned"]), _n(t["destroyed"]), _n(t["accounted"]),
                 _n(t["unaccounted"])]
                for u, t in f["totals"].items()
            ],
        ),
        ("table", LEDGER_HEAD_ZH, _ledger_rows(facts)),
        ("h", "五、有效性核查"),
        ("p", NO_CHECKS_ZH)
        if checks is None
        else ("table", ["收货方", "时间", "结果"], [[str(c.get("site")), _t(c.get("at")), str(c.get("outcome"))] for c in checks]),
        ("h", "六、召回效果评价"),
        ("p", f"收货方答复比例 {share}；" + "；".join(
            f"{u}：已查清 {_n(t['accounted'])} / 发货 {_n(t['shipped'])}，未查清 {_n(t['unaccounted'])}"
            for u, t in f["totals"].items()
        ) + "。"),
        ("kv", [("生成时间", _t(facts.generated_at.isoformat())), ("生成人", facts.generated_by)]),
    ]  # fmt: skip


def _display(facts: Facts, contact: str | None = None) -> list[Block]:
    r = facts.recall.recall
    maker = _producers(facts)
    call = contact or f"{maker}（生产者 the maker）"
    return [
        ("big", "请勿食用 DO NOT USE"),
        (
            "kv",
            [
                ("产品 Product", _products(facts)),
                ("商品条码 GTIN", ", ".join(sorted({x["gtin"] for x in facts.lots}))),
                ("批次 Lot", ", ".join(x["lot"] for x in facts.lots)),
                ("原因 Reason", r.reason),
                ("召回编号 Recall", f"#{r.id}, {_t(r.started_at.astimezone(UTC).isoformat())}"),
            ],
        ),
        ("h", "怎么办 What to do"),
        ("p", "请立即停止使用以上批次的产品。请将产品退回购买的商店（可退款），或按商店指引处理。扫描罐上的二维码可查看该罐是否在召回范围内。"),
        ("p", "Stop using the product of the lots above at once. Return it to the shop where you bought it for a "
              "refund, or dispose of it as the shop tells you. Scan the code on the can to see whether that can is recalled."),
        ("h", "联系 Whom to call"),
        ("p", call),
        ("p", "商店：请将本通知张贴在该产品的销售处。 Shops: display this notice where the product is sold."),
    ]  # fmt: skip


_BODIES = {"written": _written, "status": _status, "plan": _plan, "summary": _summary}


# -- PDF ----------------------------------------------------------------------------------------


def _pdf(title: str, blocks: Sequence[Block], *, chinese: bool, large: bool = False) -> bytes:
    """A4, one column, reportlab platypus; the PDF's standard Chinese font (STSong-Light, nothing to
    embed) for every text, since site and product names may be Chinese in any report. ``large``:
    type to be read on a shop's wall (the display notice)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.pdfmetrics import getRegisteredFontNames, registerFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in getRegisteredFontNames():
        registerFont(UnicodeCIDFont(font))
    wrap = "CJK"  # breaks between any two Chinese characters, at spaces otherwise
    k = 1.5 if large else 1.0
    body = ParagraphStyle("body", fontName=font, fontSize=9.5 * k, leading=13 * k, wordWrap=wrap, spaceAfter=4 * k)
    small = ParagraphStyle("small", parent=body, fontSize=8 * k, leading=10 * k, spaceAfter=0)
    head = ParagraphStyle("head", parent=body, fontSize=12 * k, leading=16 * k, spaceBefore=8 * k, spaceAfter=4 * k)
    big = ParagraphStyle("big", parent=body, fontSize=26 * k, leading=32 * k, alignment=1, textColor=colors.red)
    top = ParagraphStyle(
        "title", parent=body, fontSize=16 * k, leading=22 * k, spaceAfter=8 * k, alignment=1 if chinese else 0
    )

    def para(text: Any, style: ParagraphStyle = body) -> Any:
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)

    width = A4[0] - 30 * mm
    story: list[Any] = [para(title, top)]
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ]
    )
    for block in blocks:
        kind = block[0]
        if kind == "h":
            story.append(para(block[1], head))
        elif kind == "p":
            story.append(para(block[1]))
        elif kind == "big":
            story += [Spacer(1, 6 * mm), para(block[1], big), Spacer(1, 6 * mm)]
        elif kind == "kv":
            rows = [[para(k, small), para(v, small)] for k, v in block[1]]
            t = Table(rows, colWidths=[width * 0.3, width * 0.7])
            t.setStyle(
                TableStyle(
                    [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey)]
                )
            )
            story += [t, Spacer(1, 3 * mm)]
        elif kind == "table":
            headers, rows = block[1], block[2]
            if not rows:
                story.append(para("（无）None." if chinese else "None.", small))
                continue
            data = [[para(h, small) for h in headers]] + [[para(c, small) for c in row] for row in rows]
            t = Table(data, colWidths=[width / len(headers)] * len(headers), repeatRows=1)
            t.setStyle(grid)
            story += [t, Spacer(1, 3 * mm)]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author="cradletrace",
        invariant=1,  # no creation time or random document id: the same facts give the same bytes
    )
    doc.build(story)
    return out.getvalue()


# -- XLSX ---------------------------------------------------------------------------------------

LEDGER_COLUMNS: tuple[spreadsheet.Column, ...] = (
    ("site", "Consignee (id)", "str"),
    ("name", "Consignee", "str"),
    ("lot", "Lot (GTIN/lot)", "str"),
    ("unit", "Unit of Measure", "str"),
    ("shipped", "Shipped", "num"),
    ("acknowledged", "Answered", "str"),
    ("on_hand", "On Hand", "num"),
    ("returned", "Returned", "num"),
    ("destroyed", "Destroyed", "num"),
    ("unaccounted", "Unaccounted", "num"),
    ("answered_at", "Answered At (UTC)", "datetime"),
)
TOTAL_COLUMNS: tuple[spreadsheet.Column, ...] = (
    ("unit", "Unit of Measure", "str"),
    ("shipped", "Shipped", "num"),
    ("on_hand", "On Hand", "num"),
    ("returned", "Returned", "num"),
    ("destroyed", "Destroyed", "num"),
    ("accounted", "Accounted For", "num"),
    ("unaccounted", "Unaccounted", "num"),
)
MILESTONE_COLUMNS: tuple[spreadsheet.Column, ...] = (
    ("name", "Milestone", "str"),
    ("at", "Reached (UTC)", "datetime"),
    ("after_s", "Seconds From Trigger/Start", "num"),
)
CHECK_COLUMNS: tuple[spreadsheet.Column, ...] = (
    ("site", "Consignee", "str"),
    ("at", "When (UTC)", "datetime"),
    ("outcome", "Outcome", "str"),
)


def _xlsx(facts: Facts, report: str) -> bytes:
    f = figures(facts)
    v = facts.recall.to_json()
    names = _site_names(facts)
    summary: list[tuple[str, Any]] = [
        ("Report", _title(facts, report)),
        ("Recall", v["id"]),
        ("Class", v["severity"]),
        ("Status", v["status"]),
        ("Reason", v["reason"]),
        ("Product", _products(facts)),
        ("Lots", _lot_refs(facts)),
        ("Started at (UTC)", facts.recall.recall.started_at),
        ("Consignees", f["sites"]),
        ("Consignees notified", f["notified"]),
        ("Consignees responding", f["answered"]),
        ("Share responding", f["share"]),
        ("Consignees without a contact", f["without_contact"]),
        ("Shipments naming no consignee", f["without_consignee"]["shipments"]),
        ("Effectiveness checks", len(facts.checks or []) if facts.checks else "none recorded (empty section)"),
        ("Generated at (UTC)", facts.generated_at),
        ("Generated by", facts.generated_by),
    ]
    if report == "status":
        summary.append(("Period since (UTC)", facts.since or facts.recall.recall.started_at))
        summary.append(("Next status report due (UTC)", facts.generated_at + STATUS_EVERY))
    rows = [{**r, "name": names.get(r["site"], r["site"]), "acknowledged": "yes" if r["acknowledged"] else "no"}
            for r in facts.ledger["rows"]]  # fmt: skip
    return spreadsheet.xlsx_bytes(
        (
            spreadsheet.Pairs("Report", summary),
            spreadsheet.Table("Consignees", LEDGER_COLUMNS, rows),
            spreadsheet.Table("Quantities", TOTAL_COLUMNS, [{"unit": u, **t} for u, t in f["totals"].items()]),
            spreadsheet.Table("Milestones", MILESTONE_COLUMNS, facts.ledger["milestones"]),
            spreadsheet.Table("Effectiveness checks", CHECK_COLUMNS, facts.checks or []),
        )
    )

"""The pages of recall notices to people (api/routes/subscribe.py): the answer to the scan page's
subscription form, the confirm and unsubscribe buttons, and a notice's "read the recall" page."""

from __future__ import annotations

from collections.abc import Sequence

from cradletrace.errors import Problem
from cradletrace.recall.consumers import NoticeView, SubscriptionView
from cradletrace.scanner_web.pages import _env, strings


def render_person_page(
    lang: str,
    state: str,
    *,
    view: SubscriptionView | None = None,
    notice: NoticeView | None = None,
    token: str = "",
    problems: Sequence[Problem] = (),
) -> str:
    """``state``: check_mail, bad_address, expired, busy, unknown, confirm, done_confirm,
    unsubscribe, done_unsubscribe or notice (the page's words: ``sub_*`` in i18n.json)."""
    return (
        _env()
        .get_template("person.html")
        .render(
            t=strings()[lang],
            lang=lang,
            state=state,
            view=view,
            notice=notice,
            token=token,
            problems=list(problems),
        )
    )

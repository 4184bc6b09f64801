"""The acknowledgement page a consignee site opens from a recall notice (api/routes/ack.py)."""

from __future__ import annotations

from collections.abc import Sequence

from cradletrace.errors import Problem
from cradletrace.recall.acks import AckView
from cradletrace.scanner_web.pages import _env, strings


def render_ack(
    lang: str,
    view: AckView | None,
    token: str,
    *,
    form: dict[str, str] | None = None,
    problems: Sequence[Problem] = (),
    conflict: tuple[str, Sequence[Problem]] | None = None,
    thanks: bool = False,
) -> str:
    """The page: the notice and its form, the answer already given, or why there is nothing to answer."""
    return (
        _env()
        .get_template("ack.html")
        .render(
            t=strings()[lang],
            lang=lang,
            view=view,
            token=token,
            form=form or {},
            problems={p.where: p.message for p in problems},
            problem_list=list(problems),
            conflict=conflict,
            thanks=thanks,
        )
    )

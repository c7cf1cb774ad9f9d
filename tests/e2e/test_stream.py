"""The server-sent events behind the live pages: who may listen, and what they hear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.e2e.conftest import GRID1, GRID2, HTTP_SECONDS, Dev


class Events:
    """An open ``GET /api/v1/stream``, read event by event."""

    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self._lines = answer.iter_lines()

    def next(self, inbox: bool = False) -> tuple[str, str, dict[str, Any]]:
        """The next event: its name, its id and its data; the reader's ``inbox`` events
        (their unread count, tests/e2e/test_inbox.py) are passed over unless ``inbox``."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if not line:  # an event ends with a blank line
                kind = fields.get("event", "message")
                if "data" in fields and (inbox or kind != "inbox"):
                    return kind, fields.get("id", ""), json.loads(fields["data"])
                fields = {}
            elif not line.startswith(":"):  # not a comment (keep-alive)
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")


@contextmanager
def stream(url: str, headers: dict[str, str] | None = None) -> Iterator[Events]:
    with httpx.stream("GET", url, headers=headers or {}, timeout=HTTP_SECONDS) as answer:
        if answer.status_code != 200:
            answer.read()
        yield Events(answer)


def test_staff_hear_every_change_with_the_request_ids(stack: Dev) -> None:
    with stream(f"{stack.api}/stream", stack.auth("supervisor1")) as events:
        assert events.answer.headers["content-type"].startswith("text/event-stream")
        kind, hello_id, hello = events.next()
        assert kind == "hello" and int(hello_id) == hello["position"]
        filed = stack.file(description="电动车在楼道充电")
        kind, change_id, change = events.next()
        assert kind == "change" and int(change_id) == change["position"] > hello["position"]
        assert filed["id"] in change["ids"]


def test_a_handler_hears_only_the_requests_of_their_units(stack: Dev) -> None:
    """worker2 holds a post on the second grid only: a filing in the first grid is not
    theirs to know of (domain.privacy), so their stream does not name it."""
    with stream(f"{stack.api}/stream", stack.auth("worker2")) as events:
        assert events.next()[0] == "hello"
        elsewhere = stack.file(GRID1, description="第一网格的诉求")
        mine = stack.file(GRID2, description="第二网格的诉求")
        seen: set[str] = set()
        while mine["id"] not in seen:
            kind, _, change = events.next()
            assert kind == "change" and change["ids"] is not None
            seen.update(change["ids"])
        assert elsewhere["id"] not in seen


def test_the_public_stream_follows_one_request_and_resumes(stack: Dev) -> None:
    with stream(f"{stack.api}/stream") as refused:
        assert refused.answer.status_code == 401
        assert refused.answer.json()["detail"].startswith("sign in")
    with stream(f"{stack.api}/stream?token=not-a-token") as bad:
        assert bad.answer.status_code == 404

    mine = stack.file(description="下水道堵了")
    other = stack.file(description="别人的诉求")
    # the resident follows with the tracking token; the request id is no such secret
    with stream(f"{stack.api}/stream?request_id={mine['id']}") as by_id:
        assert by_id.answer.status_code == 401
    with stream(f"{stack.api}/stream?token={mine['tracking_token']}") as events:
        assert events.next()[0] == "hello"
        stack.act("worker1", other["id"], "accept")  # another resident's: not told
        stack.act("worker1", mine["id"], "accept")
        kind, event_id, change = events.next()
        assert kind == "change" and change["ids"] == [mine["id"]]

    # a browser that reconnects with Last-Event-ID first hears what it missed
    stack.act("worker1", other["id"], "progress", {"note": "不相干"})
    stack.act("worker1", mine["id"], "progress", {"note": "已联系疏通公司"})
    headers = {"Last-Event-ID": event_id}
    with stream(f"{stack.api}/stream?token={mine['tracking_token']}", headers) as events:
        kind, hello_id, _ = events.next()
        assert kind == "hello"
        kind, missed_id, missed = events.next()
        assert kind == "change" and missed["ids"] == [mine["id"]]
        assert int(event_id) < int(missed_id) <= int(hello_id)

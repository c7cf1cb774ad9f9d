"""A property-based fuzz of the OpenAPI schema (schemathesis) against the real stack:
no generated call gets a server error, and a refused call writes nothing.

Cases are made from the app's own ``/openapi.json``, valid ones (which pass the schema
and reach the rules behind it) and invalid ones (which the schema should refuse), for
every operation but the event stream (it streams until the client leaves). Each call
goes as the role the operation is for, so that it gets past sign-in; the request
actions go both to ids that do not exist and to a real request, which the run moves
through its states. Before and after every call the event store's last position, the
roster's, reveal audit's and tracking tokens' sizes, the category catalogue, the SMS
settings, the webhooks, the staff's work phones, the month's topics and the assessment's
scheme and adjustments are read: a call answered 4xx must leave them as they were.

The run is deterministic (``derandomize``: the same cases every time, no example
database), about 370 calls in 10 to 40 seconds.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import func, select, text

from api import ledger, open311_keys, roster
from closeloop import catalogue, topics, workcalendar
from closeloop.assessment import adjustment_table, scheme_table
from closeloop.store import STORE_NAME
from notify.tables import notify_settings, webhooks
from tests.stack.conftest import Stack, StackFactory

#: Cases per strategy (an operation's valid or invalid calls): about 370 in all.
#: ``CLOSELOOP_FUZZ_EXAMPLES`` runs more, to hunt; the suite runs this many.
EACH = int(os.environ.get("CLOSELOOP_FUZZ_EXAMPLES", "8"))
#: Streams until the client goes: not a request and reply.
SKIPPED = {("GET", "/api/v1/stream")}
#: Who calls each operation (absent: nobody is signed in; these are public).
CALLER: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/auth/me"): "supervisor1",
    # signing out and changing a password revoke the caller's tokens: a user of their own
    ("POST", "/api/v1/auth/logout"): "town1",
    ("POST", "/api/v1/auth/password"): "town1",
    ("PATCH", "/api/v1/users/{user_id}"): "admin",
    ("POST", "/api/v1/units"): "admin",
    ("GET", "/api/v1/units"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/categories"): "admin",
    ("PATCH", "/api/v1/categories/{code}"): "admin",
    ("GET", "/api/v1/requests"): "supervisor1",
    ("GET", "/api/v1/requests/{request_id}"): "supervisor1",
    ("POST", "/api/v1/requests/{request_id}/reveal"): "supervisor1",
    ("GET", "/api/v1/reveals"): "supervisor1",
    ("POST", "/api/v1/requests/{request_id}/accept"): "worker1",
    ("POST", "/api/v1/requests/{request_id}/progress"): "worker1",
    ("POST", "/api/v1/requests/{request_id}/escalate"): "worker1",
    ("POST", "/api/v1/requests/{request_id}/resolve"): "worker1",
    ("POST", "/api/v1/requests/{request_id}/review"): "caller1",
    ("GET", "/api/v1/tasks"): "worker1",
    ("GET", "/api/v1/followups"): "caller1",
    ("GET", "/api/v1/stats"): "supervisor1",
    ("GET", "/api/v1/calendar/{year}"): "worker1",
    ("PUT", "/api/v1/calendar/{year}"): "admin",
    # street-office operations
    ("PATCH", "/api/v1/units/{unit_id}"): "admin",
    ("GET", "/api/v1/dispatch"): "dispatcher1",
    ("POST", "/api/v1/requests/{request_id}/dispatch"): "dispatcher1",
    ("POST", "/api/v1/requests/{request_id}/return"): "worker1",
    ("POST", "/api/v1/requests/{request_id}/redirect"): "dispatcher1",
    ("POST", "/api/v1/requests/{request_id}/retier"): "dispatcher1",
    ("POST", "/api/v1/requests/{request_id}/urge"): "supervisor1",
    ("POST", "/api/v1/requests/{request_id}/extension"): "worker1",
    ("POST", "/api/v1/requests/{request_id}/extension/decision"): "branch1",
    ("POST", "/api/v1/requests/{request_id}/cohandlers"): "worker1",
    ("POST", "/api/v1/requests/{request_id}/cohandlers/{username}/done"): "partner1",
    ("POST", "/api/v1/requests/{request_id}/close-out-of-scope"): "community1",
    # the SMS settings (notify.sms)
    ("GET", "/api/v1/sms/settings"): "admin",
    ("PUT", "/api/v1/sms/settings"): "admin",
    ("POST", "/api/v1/sms/test"): "admin",
    # webhooks (notify.webhooks)
    ("POST", "/api/v1/webhooks"): "admin",
    ("GET", "/api/v1/webhooks"): "admin",
    ("DELETE", "/api/v1/webhooks/{subscription_id}"): "admin",
    ("GET", "/api/v1/webhooks/{subscription_id}/deliveries"): "admin",
    # a staff member's own work phone
    ("PATCH", "/api/v1/auth/me"): "supervisor1",
    # the staff's inbox
    ("GET", "/api/v1/inbox"): "worker1",
    ("POST", "/api/v1/inbox/{message_id}/read"): "worker1",
    ("POST", "/api/v1/inbox/read-all"): "worker1",
    # hot spots and the month's topics
    ("GET", "/api/v1/hotspots"): "supervisor1",
    ("GET", "/api/v1/hotspots/topics"): "worker1",
    ("POST", "/api/v1/hotspots/topics"): "supervisor1",
    ("POST", "/api/v1/hotspots/topics/{topic_id}/close"): "supervisor1",
    # the assessment's figures
    ("GET", "/api/v1/performance"): "supervisor1",
    ("GET", "/api/v1/rankings"): "supervisor1",
    ("GET", "/api/v1/performance/trend"): "supervisor1",
    ("GET", "/api/v1/performance/me"): "worker1",
    # the assessment (考核): grades, adjustments, the scheme
    ("GET", "/api/v1/assessment"): "supervisor1",
    ("GET", "/api/v1/assessment/workers/{username}"): "supervisor1",
    ("POST", "/api/v1/assessment/adjustments"): "supervisor1",
    ("DELETE", "/api/v1/assessment/adjustments/{adjustment_id}"): "supervisor1",
    ("GET", "/api/v1/assessment/scheme"): "worker1",
    ("PUT", "/api/v1/assessment/scheme"): "admin",
    # the monthly report
    ("GET", "/api/v1/reports/monthly"): "supervisor1",
    # Open311 GeoReport v2's keys
    ("POST", "/api/v1/open311/keys"): "admin",
    ("GET", "/api/v1/open311/keys"): "admin",
    ("DELETE", "/api/v1/open311/keys/{key_id}"): "admin",
    # place and photos
    ("POST", "/api/v1/requests/{request_id}/location"): "worker1",
    ("GET", "/api/v1/requests/{request_id}/photos/{photo_id}"): "worker1",
    # likely duplicates
    ("GET", "/api/v1/requests/{request_id}/duplicates"): "dispatcher1",
    # merging duplicates
    ("POST", "/api/v1/requests/{request_id}/merge"): "dispatcher1",
    ("POST", "/api/v1/requests/{request_id}/unmerge"): "dispatcher1",
    # the board's map
    ("GET", "/api/v1/board/map"): "supervisor1",
}
#: The operations anyone may call: sign-in, health, intake, tracking, its appeal and the
#: resident's own review, the active categories, a photo's upload and its tracking view;
#: Open311 GeoReport v2's seven (discovery, services, a service's definition, requests
#: read and filed, a request, a token).
PUBLIC = 16


class NotSendable(Exception):
    """A generated call that no HTTP client could send (a multipart file that is a number)."""


def _written(stack: Stack) -> tuple[int, ...]:
    """The event store's last position; how many units, users, reveal records, tracking
    tokens and calendar days there are; the category catalogue (a digest of its rows)."""
    with stack.engine.connect() as conn:
        last = conn.execute(text(f"SELECT max(id) FROM {STORE_NAME}_events")).scalar()
        counts = [
            int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
            for table in (ledger.reveals, ledger.tracking_tokens, workcalendar.calendar_days)
        ]
        categories = hash(tuple(conn.execute(select(catalogue.category_table)).all()))
        sms_settings = hash(tuple(conn.execute(select(notify_settings)).all()))
        hooks = hash(tuple(conn.execute(select(webhooks.c.id, webhooks.c.active)).all()))
        phones = hash(tuple(conn.execute(select(roster.user_table.c.work_phone)).all()))
        month_topics = hash(tuple(conn.execute(select(topics.topic_table)).all()))
        open311 = hash(tuple(conn.execute(select(open311_keys.keys_table)).all()))
        assessment = hash(
            (
                tuple(conn.execute(select(scheme_table)).all()),
                tuple(conn.execute(select(adjustment_table)).all()),
            )
        )
    units, users = roster.count_units(db=stack.engine), roster.count_users(db=stack.engine)
    written = (categories, sms_settings, hooks, phones, month_topics, assessment, open311)
    return int(last or 0), units, users, *counts, *written


async def test_generated_calls_get_no_server_error_and_refusals_write_nothing(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    real = (await stack.file())["id"]
    schema = schemathesis.openapi.from_dict((await stack.http.get("/openapi.json")).json())
    grid = stack.grids["医院西路社区第一网格"]
    community = stack.units["医院西路社区"]
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED:
            continue
        if key == ("POST", "/api/v1/requests"):  # a valid intake; generated headers, query
            intake = {
                "grid_id": grid,
                "category": "noise",
                "description": "fuzz",
                "channel": "hotline",
                "resident": {"name": "F", "phone": "13800000000"},
            }
            strategies.append(operation.as_strategy(body=intake))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            if "{fmt}" in operation.path and mode is GenerationMode.POSITIVE:
                for fmt in ("json", "xml"):  # a format served, so calls reach the rules
                    strategies.append(
                        operation.as_strategy(generation_mode=mode, path_parameters={"fmt": fmt})
                    )
            if "{request_id}" in operation.path and mode is GenerationMode.POSITIVE:
                strategies.append(
                    operation.as_strategy(
                        generation_mode=mode, path_parameters={"request_id": real}
                    )
                )
    loop = asyncio.get_running_loop()
    seen: dict[tuple[str, str], set[int]] = {}
    failures: list[str] = []

    def call(case: Any, known_unit: bool) -> httpx.Response:
        who = CALLER.get((case.method.upper(), case.operation.path))
        if known_unit and isinstance(case.body, dict):
            # a grid or parent that exists, so that valid bodies reach the rules behind it
            if "grid_id" in case.body:
                case.body["grid_id"] = grid
            if case.body.get("kind") in ("grid", "community") and "parent_id" in case.body:
                case.body["parent_id"] = community
        kwargs = case.as_transport_kwargs(
            base_url=str(stack.http.base_url), headers=stack.auth(who) if who else None
        )
        kwargs.pop("follow_redirects", None)
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes):
            kwargs["content"] = kwargs.pop("data")

        async def send() -> httpx.Response:
            request = stack.http.build_request(**kwargs)
            # a multipart body (a photo's upload) is read whole first, so that the checks
            # and the report may look at what was sent
            try:
                await request.aread()
            except (AttributeError, TypeError) as e:  # a "file" that is no file
                raise NotSendable from e
            return await stack.http.send(request)

        return asyncio.run_coroutine_threadsafe(send(), loop).result(timeout=120)

    def check(case: Any, known_unit: bool) -> None:
        before = _written(stack)
        try:
            answer = call(case, known_unit)
        except (UnicodeEncodeError, httpx.InvalidURL, NotSendable):  # not sendable at all
            return
        after = _written(stack)
        key = (case.method.upper(), case.operation.path)
        seen.setdefault(key, set()).add(answer.status_code)
        where = f"{case.method} {case.formatted_path} -> {answer.status_code}"
        try:
            case.validate_response(answer, checks=[not_a_server_error])
        except Exception as error:  # noqa: BLE001 - gathered, reported together below
            failures.append(f"{where}: {error}\n  {case.as_curl_command()}\n  {answer.text[:500]}")
        if 400 <= answer.status_code < 500 and after != before:
            failures.append(f"{where} wrote {before} -> {after}\n  {case.as_curl_command()}")

    def run() -> None:
        # each strategy its share of the cases, so that every operation is reached
        each = settings(
            max_examples=EACH,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        for strategy in strategies:
            try:
                each(given(case=strategy, known_unit=st.booleans())(check))()
            except Unsatisfiable:  # no invalid call exists (an operation without inputs)
                continue

    await asyncio.to_thread(run)
    assert not failures, "\n".join(failures[:10])
    # the run reached every operation, and got past the schema to the rules behind it
    # (and the public ones: health, log-in, filing, tracking, the categories)
    assert len(seen) == len(CALLER) + PUBLIC, sorted(seen)
    assert any(code < 300 for codes in seen.values() for code in codes)
    assert 201 in seen[("POST", "/api/v1/requests")]

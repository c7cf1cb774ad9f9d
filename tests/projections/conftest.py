"""Fixtures for the projections: a database per test, an event store, a request log.

``database_url`` is a SQLite file; set ``CLOSELOOP_TEST_POSTGRES_URL`` (a server URL such
as ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) to run every test on
PostgreSQL as well, each in a database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy import Engine, select

from closeloop.db import make_engine
from closeloop.store import RequestStore
from domain.ladder import Tier
from domain.privacy import masked
from domain.review import Answer, Review
from domain.state import Change, Intake, RequestState
from projections.tables import metadata, tracking_table
from projections.views import RequestViews

DAY = 86400.0
#: A Monday; every scenario counts from here.
T0 = datetime(2025, 3, 3, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str, store: RequestStore) -> Iterator[Engine]:
    """The read side's engine, as the API makes it (after the store made its tables)."""
    views = RequestViews.connect(database_url)  # the view tables exist before any read
    views.close()
    read = make_engine(database_url)
    yield read
    read.dispose()


@dataclass
class RequestLog:
    """Appends requests' changes to the event store as the workflow's activities do.

    Each change is decided by :class:`RequestState` (so it is a change the workflow
    could make) and kept in ``states``, the workflow's own view of each request.
    """

    store: RequestStore
    states: dict[str, RequestState] = field(default_factory=dict)
    commands: int = 0

    def file(
        self,
        at: datetime,
        *,
        grid: str = "g1",
        community: str = "c1",
        town: str = "t1",
        tier: Tier = Tier.D1,
        category: str = "water",
        name: str = "Wang Fang",
        phone: str = "13800000000",
        manual: bool = False,
        urgent: bool = False,
        lat: float | None = None,
        long: float | None = None,
        address: str | None = None,
    ) -> str:
        """File a request; ``manual``: its community dispatches by hand (it waits);
        ``lat``, ``long`` and ``address``: its place."""
        request_id = str(uuid.uuid4())
        intake = Intake(
            request_id=request_id,
            grid_id=grid,
            community_id=community,
            town_id=town,
            category=category,
            description="water drips from the flat above",
            channel="hotline",
            resident_name=name,
            resident_phone=phone,
            tier=tier,
            manual=manual,
            urgent=urgent,
            lat=lat,
            long=long,
            address=address,
        )
        change = RequestState.decide_file(intake, at, "intake", DAY)
        self._record(request_id, change)
        self.states[request_id] = RequestState.from_filed(change)
        return request_id

    def accept(self, request_id: str, at: datetime, actor: str = "worker") -> None:
        self._move(request_id, self.states[request_id].decide_accept(actor, at))

    def progress(self, request_id: str, at: datetime, note: str = "visited") -> None:
        self._move(request_id, self.states[request_id].decide_progress("worker", note, at))

    def escalate(self, request_id: str, at: datetime, reason: str = "beyond the grid") -> None:
        state = self.states[request_id]
        self._move(request_id, state.decide_escalate("worker", reason, at, DAY))

    def deadline(self, request_id: str, at: datetime) -> None:
        """The tier's timer fires at ``at`` (it must be due)."""
        change = self.states[request_id].decide_deadline(at, DAY)
        assert change is not None, "the deadline is not due"
        self._move(request_id, change)

    def due(self, request_id: str) -> datetime:
        return self.states[request_id].deadline

    def resolve(self, request_id: str, at: datetime) -> None:
        self._move(request_id, self.states[request_id].decide_resolve("worker", "fixed", at))

    def review(
        self, request_id: str, at: datetime, answers: str | None = None, comment: str = ""
    ) -> None:
        """``answers`` like "yes yes partly no" (completion progress effect satisfaction);
        None: the resident was not reached."""
        if answers is None:
            review = Review(reached=False, comment=comment)
        else:
            a = [Answer(word) for word in answers.split()]
            review = Review(True, a[0], a[1], a[2], a[3], comment)
        self._move(request_id, self.states[request_id].decide_review("caller", review, at, DAY))

    # ---- street-office operations ---------------------------------------------------

    def dispatch(
        self,
        request_id: str,
        at: datetime,
        *,
        grid: str = "g1",
        tier: Tier = Tier.D1,
        category: str | None = None,
    ) -> None:
        state = self.states[request_id]
        change = state.decide_dispatch("dispatcher", grid, tier, at, DAY, category=category)
        self._move(request_id, change)

    def return_(self, request_id: str, at: datetime, reason: str = "not ours") -> None:
        self._move(request_id, self.states[request_id].decide_return("worker", reason, at))

    def redirect(
        self, request_id: str, at: datetime, grid: str, reason: str = "wrong grid"
    ) -> None:
        change = self.states[request_id].decide_redirect("dispatcher", grid, reason, at)
        self._move(request_id, change)

    def retier(self, request_id: str, at: datetime, tier: Tier, reason: str = "heavier") -> None:
        change = self.states[request_id].decide_retier("dispatcher", tier, reason, at, DAY)
        self._move(request_id, change)

    def warn(self, request_id: str, at: datetime, share: float = 0.8) -> None:
        change = self.states[request_id].decide_warn(at, share)
        assert change is not None, "no warning is due"
        self._move(request_id, change)

    def urge(self, request_id: str, at: datetime, note: str = "hurry") -> None:
        self._move(request_id, self.states[request_id].decide_urge("supervisor", note, at))

    def ask_extension(self, request_id: str, at: datetime, until: datetime) -> None:
        state = self.states[request_id]
        change = state.decide_ask_extension("worker", until, "parts ordered", at, max_approved=2)
        self._move(request_id, change)

    def decide_extension(self, request_id: str, at: datetime, approve: bool) -> None:
        change = self.states[request_id].decide_extension("branch", approve, "ok", at)
        self._move(request_id, change)

    def add_cohandler(
        self,
        request_id: str,
        at: datetime,
        username: str,
        task: str = "open the meter room",
        organisation: str | None = None,
    ) -> None:
        state = self.states[request_id]
        change = state.decide_add_cohandler(
            "worker", username, task, at, due=at + timedelta(days=1), organisation=organisation
        )
        self._move(request_id, change)

    def cohandler_done(self, request_id: str, at: datetime, username: str) -> None:
        change = self.states[request_id].decide_cohandler_done(username, "done", at)
        self._move(request_id, change)

    def assist_note(self, request_id: str, at: datetime, actor: str) -> None:
        """An assisting handler or a co-handler notes progress."""
        change = self.states[request_id].decide_assist_note(actor, "helped", at)
        self._move(request_id, change)

    def close_out_of_scope(self, request_id: str, at: datetime) -> None:
        change = self.states[request_id].decide_close_out_of_scope("worker", "a court case", at)
        self._move(request_id, change)

    def appeal(self, request_id: str, at: datetime) -> None:
        change = self.states[request_id].decide_appeal("resident", "it is ours", at, DAY, DAY)
        self._move(request_id, change)

    # ---- duplicates (合并): both sides, as the two workflows record them -------------

    def merge(self, duplicate: str, primary: str, at: datetime) -> None:
        self._move(primary, self.states[primary].decide_attach("worker", duplicate, "same", at))
        self._move(duplicate, self.states[duplicate].decide_merge("worker", primary, "same", at))

    def unmerge(self, duplicate: str, at: datetime) -> None:
        primary = self.states[duplicate].merged_into
        assert primary is not None
        self._move(primary, self.states[primary].decide_detach("worker", duplicate, "not", at))
        change = self.states[duplicate].decide_unmerge("worker", "not the same", at, DAY)
        self._move(duplicate, change)

    def follow(self, duplicate: str, at: datetime) -> None:
        """The primary's resolution reaches a duplicate."""
        primary = self.states[duplicate].merged_into
        assert primary is not None
        p = self.states[primary]
        post = {"level": p.level.value, "unit_id": p.level_unit_id, "grid_id": p.grid_id,
                "community_id": p.community_id, "town_id": p.town_id}  # fmt: skip
        change = self.states[duplicate].decide_follow(
            primary, "worker", "fixed", True, at, post=post
        )
        self._move(duplicate, change)

    def _move(self, request_id: str, change: Change) -> None:
        self._record(request_id, change)
        self.states[request_id].apply(change)

    def _record(self, request_id: str, change: Change) -> None:
        self.commands += 1
        appended = self.store.record(uuid.UUID(request_id), f"cmd-{self.commands}", change)
        assert appended


@pytest.fixture
def log(store: RequestStore) -> RequestLog:
    return RequestLog(store)


@dataclass(frozen=True)
class Scenario:
    """Six requests in two towns (see :func:`file_scenario`)."""

    closed_yes: str  # A
    closed_partly_late: str  # B
    reopened_then_closed: str  # C
    unreachable: str  # D
    escalated_twice: str  # E
    overdue_at_top: str  # F


def file_scenario(log: RequestLog) -> Scenario:
    """Town t1: community c1 (grids g1, g2), community c2 (grid g3); town t2: c3 (g4).

    A  g1, day 0: resolved on time, reviewed yes yes yes yes: closed.
    B  g2, day 0, 3d tier: resolved late, reviewed yes partly partly partly: closed.
    C  g1, day 0: reviewed partly no yes no: reopened; resolved on time again,
       reviewed yes yes yes yes: closed.
    D  g3, day 1: resolved on time, three unreached calls: closed as unreachable.
    E  g4, day 2: a worker escalates to 3d, its deadline passes: open at 5d, assigned.
    F  g4, day 3, 5d tier: its deadline passes (to 1m), then the month's: overdue.
    """
    h = timedelta(hours=1)
    a = log.file(T0 + 1 * h, grid="g1", community="c1", town="t1")
    log.accept(a, T0 + 2 * h)
    log.progress(a, T0 + 3 * h)
    log.resolve(a, T0 + 4 * h)
    log.review(a, T0 + 5 * h, "yes yes yes yes")

    b = log.file(T0 + 2 * h, grid="g2", community="c1", town="t1", tier=Tier.D3)
    log.accept(b, T0 + 3 * h)
    log.resolve(b, log.due(b) + h)
    log.review(b, log.due(b) + 2 * h, "yes partly partly partly")

    c = log.file(T0 + 3 * h, grid="g1", community="c1", town="t1", category="noise")
    log.accept(c, T0 + 4 * h)
    log.resolve(c, T0 + 5 * h)
    log.review(c, T0 + 6 * h, "partly no yes no", comment="still dripping")
    log.accept(c, T0 + 7 * h)
    log.resolve(c, T0 + 8 * h)
    log.review(c, T0 + 9 * h, "yes yes yes yes")

    day1 = T0 + timedelta(days=1)
    d = log.file(day1 + h, grid="g3", community="c2", town="t1")
    log.accept(d, day1 + 2 * h)
    log.resolve(d, day1 + 3 * h)
    for attempt in range(3):
        log.review(d, day1 + (4 + attempt) * h)

    day2 = T0 + timedelta(days=2)
    e = log.file(day2 + h, grid="g4", community="c3", town="t2")
    log.accept(e, day2 + 2 * h)
    log.escalate(e, day2 + 3 * h)
    log.deadline(e, log.due(e))

    day3 = T0 + timedelta(days=3)
    f = log.file(day3 + h, grid="g4", community="c3", town="t2", tier=Tier.D5)
    log.deadline(f, log.due(f))
    log.deadline(f, log.due(f))
    return Scenario(a, b, c, d, e, f)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the view tables and of the tracking table, in a stable order."""
    tables = {**{t.name: t for t in metadata.sorted_tables}, tracking_table.name: tracking_table}
    with engine.connect() as conn:
        return {
            name: sorted(
                (tuple(row) for row in conn.execute(select(table))),
                key=repr,
            )
            for name, table in tables.items()
        }


def as_read(state: RequestState) -> dict[str, Any]:
    """The workflow's view of a request as the read model holds it: the contact masked,
    beside its sealed copy (present or not: tests/projections/test_views.py opens it); the
    address and building only sealed (``place_sealed``)."""
    view = state.view()
    return {
        **view,
        "resident": masked(view["resident"]),
        "resident_sealed": ANY,
        "address": None,
        "building": None,
        "place_sealed": ANY,
    }

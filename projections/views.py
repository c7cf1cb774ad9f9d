"""The materialised view: writes read-model rows and the tracking position together.

:class:`RequestViews` is an eventsourcing tracking recorder. Each change is applied to the
request's state with the domain's own :meth:`RequestState.apply` (the rule lives once);
the request's row, its timeline entry and its review are written and the notification id
is tracked, all in one transaction, so a crash or a re-delivered event never counts an
event twice.

Events come one by one (:meth:`RequestViews.record`, eventsourcing's ``process_event``
contract) or in a batch: inside ``with views.batch(...)`` every ``record`` joins one
transaction (eventsourcing-sqlalchemy keeps the current transaction in a context
variable), request rows are read once and written once per batch, and rows go out with
``executemany``. Either way a tracking id not above the tracked position raises
eventsourcing's ``IntegrityError`` (:class:`~projections.failures.PositionMoved`) and
nothing of the transaction is kept.

Quarantine: an event the views cannot process is written to the dead-letter table
(:meth:`RequestViews.quarantine`, with the tracking position moved past it in the same
transaction); from then on every later event of that request is parked there too, in
order, in the transaction that tracks it, so a request is never half applied. A retry
(:mod:`projections.quarantine`) applies them inside :meth:`RequestViews.replaying`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy import (
    Connection,
    Engine,
    Index,
    Row,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Session

from domain.ladder import Level, Tier
from domain.lifecycle import Status
from domain.performance import PostRule, Stints
from domain.place import PRIVATE_KEYS
from domain.privacy import Sealer, mask_name, mask_phone, open_place, seal_contact, seal_place
from domain.state import (
    ACCEPTED,
    COHANDLER_ADDED,
    COHANDLER_DONE,
    DEADLINE_EXTENDED,
    DISPATCHED,
    ESCALATED,
    EXTENSION_ASKED,
    FILED,
    LOCATION_CORRECTED,
    MARKED_OVERDUE,
    OPERATION_TYPES,
    PROGRESS_NOTED,
    RESOLVED,
    RETIERED,
    REVIEW_WINDOW_CLOSED,
    REVIEWED,
    SOURCE_CALLER,
    WARNED,
    Change,
    RequestState,
    entry_fields,
)
from projections.bulk import insert_rows, update_rows
from projections.failures import PositionMoved, caused_by, is_passing
from projections.figures import ZERO, Part, Tally, request_part, review_part, units_of
from projections.posts import Counted, PostTally, counted, read_stints, write_stints
from projections.reading import pack_operations, unpack_operations
from projections.tables import (
    ASSIST,
    BLOCKED,
    COHANDLER,
    FAILED,
    TRACKING_TABLE_NAME,
    dead_letters,
    metadata,
    people,
    requests,
    reviews,
    timeline,
)

#: Request rows are fetched by id in chunks of this many (bind-parameter limits).
_FETCH_CHUNK = 500


class ViewsOutOfStep(Exception):
    """The view rows disagree with the log they were built from: rebuild them."""


class RequestViews(SQLAlchemyTrackingRecorder):
    """The request read models of one database, with their tracking table."""

    def __init__(
        self,
        datastore: SQLAlchemyDatastore,
        *,
        tracking_table_name: str = TRACKING_TABLE_NAME,
        schema_name: str | None = None,
        sealer: Sealer | None = None,
        posts_rule: PostRule | None = None,
        **kwargs: Any,
    ) -> None:
        #: Seals each resident's contact into the request row; None leaves it unsealed
        #: (only the masked contact is kept: the full one cannot be shown from the row).
        self.sealer = sealer
        #: The response window and the months of the posts' figures (domain.performance).
        self.posts_rule = posts_rule if posts_rule is not None else PostRule()
        super().__init__(
            datastore, tracking_table_name=tracking_table_name, schema_name=schema_name, **kwargs
        )
        self.tables.extend(metadata.sorted_tables)  # created by create_table()
        self._open: ContextVar[_Batch | None] = ContextVar(f"batch-{id(self)}", default=None)

    @classmethod
    def sealing_with(cls, sealer: Sealer, posts_rule: PostRule | None = None) -> type[RequestViews]:
        """This class, sealing with ``sealer`` and counting posts by ``posts_rule``: for
        eventsourcing's ProjectionRunner, which makes the views itself."""

        class SealingViews(cls):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.setdefault("sealer", sealer)
                kwargs.setdefault("posts_rule", posts_rule)
                super().__init__(*args, **kwargs)

        return SealingViews

    @classmethod
    def connect(
        cls,
        database_url: str,
        *,
        cache_mib: int = 64,
        sealer: Sealer | None = None,
        posts_rule: PostRule | None = None,
    ) -> RequestViews:
        """Views on ``database_url``, with their tables and indexes created where missing.

        ``cache_mib`` is SQLite's page cache per connection (a rebuild asks for more).
        """
        # hide_parameters: a failing statement's parameters (maybe a resident's) stay
        # out of its error and the logs.
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if database_url.startswith("sqlite"):
            # Writers wait for each other instead of failing at once.
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        views = cls(
            SQLAlchemyDatastore(url=database_url, **kwargs), sealer=sealer, posts_rule=posts_rule
        )
        if database_url.startswith("sqlite"):
            _tune_sqlite(views.engine, cache_mib)
        views.create_table()
        ensure_indexes(views.engine)
        # WAL now, before any thread reads: switching later needs a lock that busy readers
        # can keep from us.
        views.datastore.init_sqlite_wal_mode()
        return views

    @property
    def engine(self) -> Engine:
        engine = self.datastore.engine
        assert isinstance(engine, Engine), "views need an engine, not a scoped session"
        return engine

    def close(self) -> None:
        self.engine.dispose()

    # ---- writing ------------------------------------------------------------------

    @contextmanager
    def batch(
        self,
        application_name: str,
        expected_position: int | None,
        request_ids: Iterable[str] = (),
        *,
        memory: Memory | None = None,
    ) -> Iterator[Session]:
        """One transaction for many :meth:`record` calls, written out when the block ends.

        Raises :class:`~projections.failures.PositionMoved` when the tracked position is
        no longer ``expected_position`` (another projector, or a reset, moved it).
        ``request_ids`` are the requests the batch will touch: their rows are read in one
        go, except those ``memory`` holds from the previous batches (a rebuild's), and
        which of them wait behind a quarantined event.
        """
        with self.transaction(commit=True) as session:
            position = self.lock_tracking(session, application_name)
            if position != expected_position:
                raise PositionMoved(
                    f"the position of {application_name!r} moved from {expected_position} "
                    f"to {position}"
                )
            pending = _Batch(session, {application_name: position}, rule=self.posts_rule)
            # nothing is quarantined (a rebuild, most batches): no request waits
            pending.none_waits = (
                pending.conn.execute(select(dead_letters.c.position).limit(1)).first() is None
            )
            if memory is not None:
                memory.lend(pending, application_name, position)
            pending.fetch(request_ids)
            pending.check_blocked(request_ids)
            token = self._open.set(pending)
            try:
                yield session
                self._write(session, pending)
            except BaseException:
                if memory is not None:
                    memory.forget()  # the states held were moved by what is rolled back
                raise
            finally:
                self._open.reset(token)
        if memory is not None:
            memory.keep(pending, application_name)

    def record(
        self,
        request_id: str,
        position: int,
        change: Change,
        tracking: Tracking | None,
        *,
        topic: str = "",
    ) -> None:
        """Apply one change to the request's rows and track it, atomically.

        ``position`` is the event's version within its request, ``topic`` its type's
        topic (kept if it has to wait behind a quarantined event of its request). Raises
        eventsourcing's ``IntegrityError`` when ``tracking`` is not past the tracked
        position. ``tracking`` is None only inside :meth:`replaying` (a retry of a
        quarantined event, tracked when it was quarantined).
        """
        pending = self._open.get()
        if pending is not None:
            pending.add(request_id, position, change, tracking, self, topic)
            return
        if tracking is None:
            raise ValueError("an untracked change is applied only inside replaying()")
        with self.transaction(commit=True) as session:
            name = tracking.application_name
            pending = _Batch(
                session, {name: self.lock_tracking(session, name)}, rule=self.posts_rule
            )
            pending.add(request_id, position, change, tracking, self, topic)
            self._write(session, pending)

    def skip(self, tracking: Tracking) -> None:
        """Track an event that is not the views' (it moves the position, nothing else)."""
        pending = self._open.get()
        if pending is not None:
            pending.track(tracking, self)
            return
        self.insert_tracking(tracking)

    @property
    def in_batch(self) -> bool:
        """True inside :meth:`batch` or :meth:`replaying` (in this thread or task)."""
        return self._open.get() is not None

    # ---- quarantine ---------------------------------------------------------------

    def healthy(self) -> bool:
        """True when every view table can be read: a failure beside that is the event's."""
        try:
            with self.engine.connect() as conn:
                for table in metadata.sorted_tables:
                    conn.execute(select(1).select_from(table).limit(1)).all()
        except Exception:  # noqa: BLE001 - any failure means: not now
            return False
        return True

    def should_quarantine(self, error: BaseException) -> bool:
        """True when ``error``, raised while processing one event, is that event's fault:
        not a passing failure (:func:`~projections.failures.is_passing`), not views out
        of step with their position (rebuild them: every event would fail), and the
        database answers."""
        if is_passing(error) or caused_by(error, ViewsOutOfStep):
            return False
        return self.healthy()

    def quarantine(
        self, tracking: Tracking, request_id: str, version: int, topic: str, error: str
    ) -> None:
        """Record the event at ``tracking`` as failed with ``error``, and track it, in one
        transaction; the request's later events then wait behind it.

        Raises :class:`~projections.failures.PositionMoved` when ``tracking`` is not past
        the tracked position (another projector processed it meanwhile).
        """
        name = tracking.application_name
        with self.transaction(commit=True) as session:
            position = self.lock_tracking(session, name)
            if position is not None and tracking.notification_id <= position:
                raise PositionMoved(
                    f"notification {tracking.notification_id} of {name!r} was processed "
                    f"before (the position is {position})"
                )
            now = datetime.now(UTC)
            session.connection().execute(
                insert(dead_letters),
                {
                    "position": tracking.notification_id,
                    "request_id": request_id,
                    "version": version,
                    "topic": topic,
                    "state": FAILED,
                    "error": error,
                    "attempts": 1,
                    "quarantined_at": now,
                    "tried_at": now,
                },
            )
            self._insert_tracking(session, tracking)

    @contextmanager
    def replaying(self, application_name: str, position: int) -> Iterator[bool]:
        """One transaction that applies the quarantined event at ``position`` again.

        Yields False (and does nothing) when it is no longer in the dead-letter table.
        Else :meth:`record` calls in the block (with ``tracking=None``) apply the change
        to the rows, and at the block's end the rows are written and the event's
        dead-letter row deleted, all in one transaction. The tracking row is locked
        first, as a projector's batch does: a running projector and a retry take turns,
        so the projector never reads a request's rows, or whether it waits, in between.
        """
        with self.transaction(commit=True) as session:
            self.lock_tracking(session, application_name)
            here = dead_letters.c.position == position
            conn = session.connection()
            if conn.execute(select(dead_letters.c.position).where(here)).first() is None:
                yield False
                return
            pending = _Batch(
                session, {application_name: None}, rule=self.posts_rule, replaying=True
            )
            token = self._open.set(pending)
            try:
                yield True
                pending.write()
            finally:
                self._open.reset(token)
            conn.execute(delete(dead_letters).where(here))

    def mark(self, application_name: str, position: int, state: str, error: str) -> None:
        """Keep the quarantined event at ``position`` with a new state and error (a retry
        that failed again counts an attempt)."""
        with self.transaction(commit=True) as session:
            self.lock_tracking(session, application_name)
            values: dict[str, Any] = {"state": state, "error": error}
            if state == FAILED:
                values["attempts"] = dead_letters.c.attempts + 1
                values["tried_at"] = datetime.now(UTC)
            session.connection().execute(
                update(dead_letters).where(dead_letters.c.position == position).values(**values)
            )

    def quarantined(self) -> int:
        """How many events wait in the dead-letter table."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())

    def lock_tracking(self, session: Session, application_name: str) -> int | None:
        """Take the tracking row for this transaction, and return the position it holds.

        A no-op update of the row takes SQLite's write lock at once (instead of at the
        first real write, after reading rows another writer could still change) and locks
        the row on PostgreSQL. Two projectors, or a projector and a rebuild, then take
        turns, and the one that waited finds the position moved.
        """
        table = self.tracking_table
        here = table.c.application_name == application_name
        session.execute(update(table).where(here).values(notification_id=table.c.notification_id))
        position = session.execute(select(table.c.notification_id).where(here)).scalar_one_or_none()
        return None if position is None else int(position)

    def _write(self, session: Session, pending: _Batch) -> None:
        pending.write()
        for tracking in pending.last_tracking.values():
            self._insert_tracking(session, tracking)


class Memory:
    """The states of open requests, kept from one batch to the next (a rebuild's).

    A rebuild reads every request's row back after each batch otherwise. What is held is
    only lent to a batch that starts exactly where the last one kept ended; anything
    else (another projector moved the position, a batch failed) forgets it all and the
    rows are read from the database again. Closed requests are let go: nothing follows.
    """

    def __init__(self) -> None:
        self._held: dict[str, _Request] = {}
        self._position: dict[str, int | None] = {}

    def __len__(self) -> int:
        return len(self._held)

    def forget(self) -> None:
        self._held.clear()
        self._position.clear()

    def lend(self, pending: _Batch, application_name: str, position: int | None) -> None:
        if application_name not in self._position or self._position[application_name] != position:
            self.forget()
            return
        pending.requests = self._held

    def keep(self, pending: _Batch, application_name: str) -> None:
        held = pending.requests
        for request_id in [i for i, r in held.items() if r.state.status is Status.CLOSED]:
            del held[request_id]
        # A request waiting behind a quarantined event is moved by a retry, behind the
        # back of what is held here: read it from its row when it comes again.
        for request_id in pending.blocked:
            held.pop(request_id, None)
        for request in held.values():
            request.is_new = request.touched = request.people_moved = False
        self._held = held
        self._position = {application_name: pending.positions[application_name]}


@dataclass
class _Request:
    """A request being moved by a batch: its domain state and the columns beyond it."""

    state: RequestState
    version: int
    missed_deadline: bool = False
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    closed_outcome: str | None = None
    is_new: bool = False  # filed in this batch: inserted, not updated
    sealed: str | None = None  # the resident's contact, sealed (domain.privacy)
    place_sealed: str | None = None  # the address and building, sealed (domain.privacy)
    touched: bool = False  # moved in this batch: its row is written
    counted: Part = ZERO  # what the figures count for it so far (projections.figures)
    # the figures' counts of its whole life that the state keeps per tier only
    warnings: int = 0  # Warned events
    extensions_asked: int = 0
    extensions_granted: int = 0
    dispatched: bool = False  # ever dispatched: its dispatch wait counts
    people_moved: bool = False  # its assisting levels or co-handlers moved in this batch
    ops: str | None = None  # the ``ops`` column as last packed; None: to pack again
    # no operation ever moved it: the operations' columns hold their defaults, and are
    # left out of its writes (most requests: fewer parameters per row)
    plain: bool = True
    # its stays at posts (domain.performance), and what each counts for in the posts'
    # buckets so far, by seq
    stints: Stints | None = None
    posts_counted: dict[int, Counted] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Row[Any]) -> _Request:
        state = RequestState(
            id=row.id,
            grid_id=row.grid_id,
            community_id=row.community_id,
            town_id=row.town_id,
            category=row.category,
            description=row.description,
            channel=row.channel,
            resident={"name": row.resident_name, "phone": row.resident_phone},
            tier=Tier(row.tier),
            level=Level(row.level),
            level_unit_id=row.level_unit_id,
            deadline=row.deadline,
            created_at=row.created_at,
            updated_at=row.updated_at,
            status=Status(row.status),
            overdue=row.overdue,
            escalations=row.escalations,
            reopens=row.reopens,
            unreached_attempts=row.unreached_attempts,
            urgent=bool(row.urgent),
        )
        if row.ops is not None:  # NULL: projected before the operations, none happened
            state.restore_operations(unpack_operations(row.ops))
        state.review_until = row.review_until
        state.place = {k: v for k, v in (("lat", row.lat), ("long", row.long)) if v is not None}
        state.photos = json.loads(row.photos) if row.photos else []
        request = cls(
            state=state,
            version=row.version,
            missed_deadline=row.missed_deadline,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            closed_outcome=row.closed_outcome,
            sealed=row.resident_sealed,
            place_sealed=row.place_sealed,
            warnings=row.warnings,
            extensions_asked=row.extensions_asked,
            extensions_granted=row.extensions_granted,
            dispatched=row.dispatch_wait_seconds is not None,
            ops=row.ops,
            plain=_has_defaults(row),
        )
        request.counted = request.part()
        return request

    def part(self) -> Part:
        """What the figures count for this request now, beside its reviews."""
        s = self.state
        return request_part(
            s.status.value,
            s.tier.value,
            s.overdue,
            s.escalations,
            self.missed_deadline,
            self.closed_outcome,
            s.returns,
            s.redirects,
            self.warnings,
            s.urges,
            self.extensions_asked,
            self.extensions_granted,
            self.dispatched,
            s.merged is not None,
        )

    def units(self) -> tuple[str, ...]:
        return units_of(self.state.community_id, self.state.town_id)

    def apply(self, change: Change, version: int) -> None:
        """Move the state with the domain's rule, and the figures' columns beside it."""
        was_closed = self.state.status is Status.CLOSED
        kind = change.type
        if kind not in _OPERATIONS_KEPT or (kind == RESOLVED and self.state.extension):
            self.ops = None  # packed again when written
        if kind in _OPERATION_TYPES:
            self.plain = False
        self.state.apply(change, timeline=False)  # the timeline is kept as rows
        self.version = version
        self.touched = True
        d = change.data
        if kind == REVIEWED and self.state.status is Status.ASSIGNED:
            self.ops = None  # reopened: the tier's clock starts again
        if (
            (change.type == ESCALATED and d["automatic"])
            or change.type == MARKED_OVERDUE
            or (change.type == RESOLVED and not d["on_time"])
        ):
            self.missed_deadline = True
        if change.type == RESOLVED:
            self.resolved_at = change.at
        elif change.type in _COUNTED:
            self._count(change.type)
        if self.state.status is Status.CLOSED:
            if not was_closed:
                self.closed_at = change.at
                self.closed_outcome = d["outcome"]
        elif was_closed:  # an appeal reopened it
            self.closed_at = self.closed_outcome = None

    def _count(self, kind: str) -> None:
        if kind in _PEOPLE:
            self.people_moved = True
        elif kind == WARNED:
            self.warnings += 1
        elif kind == EXTENSION_ASKED:
            self.extensions_asked += 1
        elif kind == DEADLINE_EXTENDED:
            self.extensions_granted += 1
        elif kind == DISPATCHED:
            self.dispatched = True

    def reseal_place(self, sealer: Sealer, data: dict[str, Any]) -> None:
        """A corrected address or building replaces the sealed one's part it names."""
        if not any(k in data for k in PRIVATE_KEYS):
            return
        kept = open_place(sealer, self.place_sealed) if self.place_sealed else {}
        self.place_sealed = seal_place(sealer, {**kept, **data})

    def packed(self) -> str:
        """The ``ops`` column: packed again only after a change that may have moved it."""
        if self.ops is None:
            self.ops = pack_operations(self.state.operations())
        return self.ops

    def people_rows(self) -> list[dict[str, Any]]:
        """Its ``view_request_people`` rows: the levels it went up from, its co-handlers
        (done when none of their parts is open)."""
        s = self.state
        rows = [
            {"request_id": s.id, "kind": ASSIST, "key": assist_key(a), "done": False}
            for a in s.assisting
        ]
        done: dict[str, bool] = {}
        for c in s.cohandlers:
            done[c["username"]] = done.get(c["username"], True) and bool(c["done"])
        rows += [
            {"request_id": s.id, "kind": COHANDLER, "key": username, "done": finished}
            for username, finished in done.items()
        ]
        return rows

    def columns(self) -> dict[str, Any]:
        s = self.state
        return {
            "id": s.id,
            "status": s.status.value,
            "tier": s.tier.value,
            "level": s.level.value,
            "level_unit_id": s.level_unit_id,
            "deadline": s.deadline,
            "overdue": s.overdue,
            "escalations": s.escalations,
            "reopens": s.reopens,
            "unreached_attempts": s.unreached_attempts,
            "urgent": s.urgent,
            "grid_id": s.grid_id,
            "community_id": s.community_id,
            "town_id": s.town_id,
            "category": s.category,
            "description": s.description,
            "channel": s.channel,
            "resident_name": mask_name(s.resident["name"]),
            "resident_phone": mask_phone(s.resident["phone"]),
            "resident_sealed": self.sealed,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
            "version": self.version,
            "missed_deadline": self.missed_deadline,
            "resolved_at": self.resolved_at,
            "closed_at": self.closed_at,
            "closed_outcome": self.closed_outcome,
            "ops": self.packed(),
            "review_until": s.review_until,
            "lat": s.place.get("lat"),
            "long": s.place.get("long"),
            "place_sealed": self.place_sealed,
            "photos": json.dumps(s.photos, ensure_ascii=False) if s.photos else None,
            "merged_into": s.merged_into,
        }

    def operation_columns(self) -> dict[str, Any]:
        """The operations' columns beside ``ops`` (left to their defaults while
        :attr:`plain`)."""
        s = self.state
        return {
            "warned": s.warned,
            "urges": s.urges,
            "last_urged_at": s.last_urged_at,
            "extension_pending": s.extension is not None,
            "cohandlers_open": sum(1 for c in s.cohandlers if not c["done"]),
            "waiting_since": s.waiting_since,
            "dispatch_wait_seconds": s.dispatch_wait_seconds if self.dispatched else None,
            "returns": s.returns,
            "redirects": s.redirects,
            "warnings": self.warnings,
            "extensions_asked": self.extensions_asked,
            "extensions_granted": self.extensions_granted,
        }


#: The operations' columns and their defaults (the server's, for rows inserted plain).
_OPERATION_DEFAULTS: dict[str, Any] = {
    "warned": False,
    "urges": 0,
    "last_urged_at": None,
    "extension_pending": False,
    "cohandlers_open": 0,
    "waiting_since": None,
    "dispatch_wait_seconds": None,
    "returns": 0,
    "redirects": 0,
    "warnings": 0,
    "extensions_asked": 0,
    "extensions_granted": 0,
}
_OPERATION_TYPES = frozenset(OPERATION_TYPES)


def _has_defaults(row: Row[Any]) -> bool:
    """Whether the row's operations' columns all hold their defaults."""
    return all(getattr(row, name) == value for name, value in _OPERATION_DEFAULTS.items())


def assist_key(left: dict[str, str]) -> str:
    """An ``assist`` row's key: ``<level>:<unit_id>`` of a level the request went up from."""
    return f"{left['level']}:{left['unit_id']}"


#: The changes that leave ``RequestState.operations()`` as it was (a resolve too, unless
#: it lets an extension ask lapse; a review too, unless it reopens the request).
_OPERATIONS_KEPT = frozenset(
    {
        ACCEPTED,
        PROGRESS_NOTED,
        MARKED_OVERDUE,
        RESOLVED,
        REVIEWED,
        REVIEW_WINDOW_CLOSED,
        LOCATION_CORRECTED,
    }
)

#: The changes that move what the figures count beyond the state, or the people rows.
_PEOPLE = frozenset({ESCALATED, RETIERED, COHANDLER_ADDED, COHANDLER_DONE})
_COUNTED = _PEOPLE | {WARNED, EXTENSION_ASKED, DEADLINE_EXTENDED, DISPATCHED}


_INSERT_DEAD_LETTER = insert(dead_letters)


def waiting_behind(first: int) -> str:
    """A parked event's note: the quarantined event of its request it waits behind."""
    return f"waits behind event {first} of the same request"


@dataclass
class _Batch:
    """What a transaction has applied so far, written out once at its end."""

    session: Session
    positions: dict[str, int | None]  # tracked position per application, as now applied
    last_tracking: dict[str, Tracking] = field(default_factory=dict)
    requests: dict[str, _Request] = field(default_factory=dict)
    timeline_rows: list[dict[str, Any]] = field(default_factory=list)
    review_rows: list[dict[str, Any]] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    #: requests waiting behind a quarantined event -> the position of the first one
    blocked: dict[str, int] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)  # requests whose wait is known
    parked: list[dict[str, Any]] = field(default_factory=list)  # dead-letter rows to add
    replaying: bool = False  # applying quarantined events again: nothing waits, or tracks
    rule: PostRule = field(default_factory=PostRule)  # the posts' response window, months
    none_waits: bool = False  # the dead-letter table was empty when the batch began
    post_tally: PostTally = field(default_factory=PostTally)

    @property
    def conn(self) -> Connection:
        """The session's connection: rows go out through Core, in the same transaction."""
        return self.session.connection()

    def fetch(self, request_ids: Iterable[str]) -> None:
        """Read the rows of requests not yet held."""
        wanted = sorted(set(request_ids) - self.requests.keys())
        for i in range(0, len(wanted), _FETCH_CHUNK):
            chunk = wanted[i : i + _FETCH_CHUNK]
            for row in self.conn.execute(select(requests).where(requests.c.id.in_(chunk))):
                self.requests[row.id] = _Request.from_row(row)
            found = [request_id for request_id in chunk if request_id in self.requests]
            for request_id, stints in read_stints(self.conn, found).items():
                request = self.requests[request_id]
                request.stints = stints
                request.posts_counted = {s.seq: counted(s, self.rule) for s in stints.items}

    def check_blocked(self, request_ids: Iterable[str]) -> None:
        """Learn which of these requests wait behind a quarantined event."""
        if self.none_waits:  # the batch holds the tracking row: none was quarantined since
            self.checked.update(request_ids)
            return
        wanted = sorted(set(request_ids) - self.checked)
        for i in range(0, len(wanted), _FETCH_CHUNK):
            chunk = wanted[i : i + _FETCH_CHUNK]
            query = (
                select(dead_letters.c.request_id, func.min(dead_letters.c.position))
                .where(dead_letters.c.request_id.in_(chunk))
                .group_by(dead_letters.c.request_id)
            )
            for request_id, first in self.conn.execute(query):
                self.blocked[request_id] = int(first)
        self.checked.update(wanted)

    def add(
        self,
        request_id: str,
        version: int,
        change: Change,
        tracking: Tracking | None,
        views: RequestViews,
        topic: str = "",
    ) -> None:
        if tracking is None:
            if not self.replaying:
                raise ValueError("an untracked change is applied only inside replaying()")
        else:
            self.track(tracking, views)
            if request_id not in self.checked:
                self.check_blocked([request_id])
            first = self.blocked.get(request_id)
            if first is not None:
                self._park(request_id, version, tracking, topic, first)
                return
        if change.type == FILED:
            if request_id in self.requests:
                raise ViewsOutOfStep(f"request {request_id} was filed before")
            state = RequestState.from_filed(change, timeline=False)
            request = _Request(state, version, is_new=True, touched=True)
            # waiting for dispatch from its filing: not plain
            request.plain = state.waiting_since is None
            if views.sealer is not None:
                request.sealed = seal_contact(views.sealer, state.resident)
                request.place_sealed = seal_place(views.sealer, change.data)
            request.stints = Stints(request_id)
            self.requests[request_id] = request
        else:
            request = self._held(request_id, change)
            request.apply(change, version)
            if change.type == LOCATION_CORRECTED and views.sealer is not None:
                request.reseal_place(views.sealer, change.data)
        if request.stints is None:  # a row read before its stints were: read them now
            request.stints = read_stints(self.conn, [request_id])[request_id]
        request.stints.apply(change, request.state, self.rule.responded)
        # the timeline entry's own fields: the change's (a filing's are the request's own)
        entry = entry_fields(change)
        self.timeline_rows.append(
            {
                "request_id": request_id,
                "position": version,
                "type": change.type,
                "at": change.at,
                "actor": change.actor,
                "data": entry,
            }
        )
        if change.type == REVIEWED:
            d = change.data
            self.tally.add(request.units(), request.state.created_at, review_part(d))
            self.review_rows.append(
                {
                    "request_id": request_id,
                    "position": version,
                    "at": change.at,
                    "actor": change.actor,
                    "reached": d["reached"],
                    "completion": d["completion"],
                    "progress": d["progress"],
                    "effect": d["effect"],
                    "satisfaction": d["satisfaction"],
                    "outcome": d["outcome"],
                    "comment": d.get("comment", ""),
                    "source": d.get("source", SOURCE_CALLER),
                }
            )

    def _held(self, request_id: str, change: Change) -> _Request:
        if request_id not in self.requests:
            self.fetch([request_id])
        try:
            return self.requests[request_id]
        except KeyError:
            raise ViewsOutOfStep(f"{change.type} for request {request_id}, never filed") from None

    def _park(
        self, request_id: str, version: int, tracking: Tracking, topic: str, first: int
    ) -> None:
        """The request waits behind its quarantined event ``first``: so does this one."""
        now = datetime.now(UTC)
        self.parked.append(
            {
                "position": tracking.notification_id,
                "request_id": request_id,
                "version": version,
                "topic": topic,
                "state": BLOCKED,
                "error": waiting_behind(first),
                "attempts": 0,
                "quarantined_at": now,
                "tried_at": now,
            }
        )

    def track(self, tracking: Tracking, views: RequestViews) -> None:
        """Refuse a notification at or before the position (a re-delivery)."""
        name = tracking.application_name
        if name not in self.positions:  # an application the batch was not opened for
            self.positions[name] = views.lock_tracking(self.session, name)
        position = self.positions[name]
        if position is not None and tracking.notification_id <= position:
            raise PositionMoved(
                f"notification {tracking.notification_id} of {name!r} was processed before"
            )
        self.positions[name] = tracking.notification_id
        self.last_tracking[name] = tracking

    def write(self) -> None:
        """Insert new requests, update the others once each, insert timeline and reviews,
        and add what moved to the figures."""
        # plain rows and the others apart: each executemany needs the same keys in each row
        new: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        changed: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        moved: list[str] = []  # requests whose people rows are written again
        people_rows: list[dict[str, Any]] = []
        fresh_stints: list[dict[str, Any]] = []
        moved_stints: list[dict[str, Any]] = []
        tally = self.tally
        for r in self.requests.values():
            if not r.touched:
                continue
            part = r.part()
            tally.move(r.units(), r.state.created_at, r.counted, part)
            r.counted = part
            row = r.columns()
            if not r.plain:
                row.update(r.operation_columns())
            if r.is_new:
                new[r.plain].append(row)
            else:
                row["request_id"] = row.pop("id")
                changed[r.plain].append(row)
            if r.people_moved:
                if not r.is_new:
                    moved.append(r.state.id)
                people_rows += r.people_rows()
            if r.stints is not None and r.stints.moved:
                self._move_stints(r, r.stints, fresh_stints, moved_stints)
        conn = self.conn
        for rows in new:
            insert_rows(conn, requests, rows)
        for rows in changed:
            update_rows(conn, requests, rows, {"id": "request_id"})
        for i in range(0, len(moved), _FETCH_CHUNK):
            chunk = moved[i : i + _FETCH_CHUNK]
            conn.execute(delete(people).where(people.c.request_id.in_(chunk)))
        insert_rows(conn, people, people_rows)
        insert_rows(conn, timeline, self.timeline_rows)
        insert_rows(conn, reviews, self.review_rows)
        if self.parked:
            conn.execute(_INSERT_DEAD_LETTER, self.parked)
        write_stints(self.conn, fresh_stints, moved_stints)
        tally.write(self.conn)
        self.post_tally.write(self.conn)

    def _move_stints(
        self,
        r: _Request,
        stints: Stints,
        fresh: list[dict[str, Any]],
        moved: list[dict[str, Any]],
    ) -> None:
        """Add the moved stints' rows, and move their counts in the posts' buckets."""
        for seq in sorted(stints.moved):
            stint = stints.items[seq]
            now = counted(stint, self.rule)
            self.post_tally.move(r.posts_counted.get(seq), now)
            r.posts_counted[seq] = now
            (fresh if seq >= stints.stored else moved).append(stint.row())
        stints.saved()


def secondary_indexes() -> list[Index]:
    """The read models' indexes beyond their primary keys (a rebuild builds them last)."""
    return [index for table in metadata.sorted_tables for index in table.indexes]


def ensure_indexes(engine: Engine) -> list[str]:
    """Create the secondary indexes that are missing (after an interrupted rebuild);
    returns their names."""
    made = []
    with engine.begin() as conn:
        existing = {
            table.name: {i["name"] for i in inspect(conn).get_indexes(table.name)}
            for table in metadata.sorted_tables
        }
        for index in secondary_indexes():
            if index.name not in existing[index.table.name]:  # type: ignore[union-attr]
                index.create(conn)
                made.append(str(index.name))
    return made


def _tune_sqlite(engine: Engine, cache_mib: int) -> None:
    """synchronous=NORMAL and a page cache of ``cache_mib`` for the projector's connections.

    In WAL mode NORMAL may lose the last commits in a power cut, never consistency: the
    read models and their tracking commit together, so a lost commit is processed again.
    The larger cache keeps the indexes' upper pages in memory, which a rebuild of a large
    log needs (SQLite's default is 2 MiB).
    """

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        cursor.close()

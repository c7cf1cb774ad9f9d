"""The read-model tables: one row per request, its timeline, its reviews.

Every table here is filled only by :mod:`projections.views` from the event store's
notification log, and can be dropped and rebuilt from it (:mod:`projections.rebuild`).
Their names start with ``view_`` so that nobody mistakes them for a source of truth.

Times are stored in UTC. SQLite has no time zones (SQLAlchemy's ``DateTime(timezone=True)``
drops the offset there), so :class:`UtcDateTime` converts to UTC on the way in and marks
values as UTC on the way out: SQL comparisons and ordering work on both databases, and
callers always get aware datetimes back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.models import NotificationTrackingRecord  # type: ignore[attr-defined]
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from domain.ladder import LADDER
from domain.performance import POST_COUNTS
from domain.review import DIMENSIONS, Answer

#: The projection's name: the prefix of its tables, and the name of its tracking table.
PROJECTION_NAME = "view"

#: Where the projection records how far it has read each application's notification log.
TRACKING_TABLE_NAME = f"{PROJECTION_NAME}_tracking"


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC; naive datetimes are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime has no meaning here: {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:  # SQLite: stored in UTC without an offset
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_JSON = JSON().with_variant(JSONB(), "postgresql")
_ID = String(64)
_TEXT = Text()

metadata = MetaData()

requests = Table(
    f"{PROJECTION_NAME}_requests",
    metadata,
    # -- the request view (RequestState.view() without the timeline) --
    Column("id", _ID, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("tier", String(4), nullable=False),
    Column("level", String(32), nullable=False),
    Column("level_unit_id", _ID, nullable=False),
    # None while the request waits for dispatch (no tier clock runs)
    Column("deadline", UtcDateTime(), nullable=True),
    Column("overdue", Boolean(), nullable=False),
    Column("escalations", Integer(), nullable=False),
    Column("reopens", Integer(), nullable=False),
    Column("unreached_attempts", Integer(), nullable=False),
    Column("urgent", Boolean(), nullable=False, server_default=false()),
    Column("grid_id", _ID, nullable=False),
    Column("community_id", _ID, nullable=False),
    Column("town_id", _ID, nullable=False),
    Column("category", String(64), nullable=False),
    Column("description", _TEXT, nullable=False),
    Column("channel", String(32), nullable=False),
    # masked (张*, 138****5678): what the board shows; the contact itself is sealed
    Column("resident_name", String(200), nullable=False),
    Column("resident_phone", String(64), nullable=False),
    Column("resident_sealed", _TEXT, nullable=True),  # AES-GCM, for those allowed (privacy)
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # -- what the work lists and the figures need beyond the view --
    Column("version", Integer(), nullable=False),  # the last event's originator_version
    # an automatic escalation, an overdue mark, or a late resolve, ever
    Column("missed_deadline", Boolean(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),  # the latest resolve
    Column("closed_at", UtcDateTime(), nullable=True),
    # closed | unreachable | out_of_scope; None while the request is not closed
    Column("closed_outcome", String(16), nullable=True),
    # -- street-office operations (revision 0009; older rows keep the defaults) --
    # RequestState.operations() as JSON text; NULL for rows projected before: none known
    Column("ops", _TEXT, nullable=True),
    Column("warned", Boolean(), nullable=False, server_default=false()),  # 预警, this tier
    Column("urges", Integer(), nullable=False, server_default="0"),  # 催办, all of them
    Column("last_urged_at", UtcDateTime(), nullable=True),
    Column("extension_pending", Boolean(), nullable=False, server_default=false()),
    Column("cohandlers_open", Integer(), nullable=False, server_default="0"),  # part not done
    Column("waiting_since", UtcDateTime(), nullable=True),  # waiting for dispatch since
    # all the time spent waiting for dispatch; NULL: never dispatched
    Column("dispatch_wait_seconds", Float(), nullable=True),
    # what the figures count beyond the state (which keeps only the current tier's):
    Column("returns", Integer(), nullable=False, server_default="0"),  # 退单
    Column("redirects", Integer(), nullable=False, server_default="0"),  # 改派
    Column("warnings", Integer(), nullable=False, server_default="0"),  # Warned events
    Column("extensions_asked", Integer(), nullable=False, server_default="0"),
    Column("extensions_granted", Integer(), nullable=False, server_default="0"),
    # -- notifications (revision 0010) --
    # until when the resident may review the latest resolution themselves (限时反馈); NULL:
    # no self-review (none offered, or the request is not waiting for its review)
    Column("review_until", UtcDateTime(), nullable=True),
    # -- where it is, and its photos (revision 0016) --
    # the point (WGS-84), shown to staff who may see the request; NULL: not given
    Column("lat", Float(), nullable=True),
    Column("long", Float(), nullable=True),
    # the address and building (personal data), sealed as the contact is; NULL: none
    Column("place_sealed", _TEXT, nullable=True),
    # the photos' references (hash, type, stage, at, by) as JSON text; NULL: none
    Column("photos", _TEXT, nullable=True),
    # -- duplicates (revision 0017): the request it is merged into; NULL: its own work --
    Column("merged_into", _ID, nullable=True),
    # board and work lists: open requests by status, soonest deadline first
    Index(f"ix_{PROJECTION_NAME}_requests_status_deadline", "status", "deadline"),
    # tasks: open requests at a handler's (unit, level)
    Index(
        f"ix_{PROJECTION_NAME}_requests_unit_level",
        "level_unit_id",
        "level",
        "status",
        "deadline",
    ),
    # follow-ups: resolved requests, oldest resolve first
    Index(f"ix_{PROJECTION_NAME}_requests_status_resolved", "status", "resolved_at"),
    # board: the requests no longer open, latest change first
    Index(f"ix_{PROJECTION_NAME}_requests_updated", "updated_at", "id"),
    # figures: a unit's cohort of requests received in a period
    # ... and the hot spots' counts by grid and category, read from these indexes alone
    # (covering; revision 0012)
    Index(f"ix_{PROJECTION_NAME}_requests_created", "created_at", "grid_id", "category"),
    Index(
        f"ix_{PROJECTION_NAME}_requests_town_created",
        "town_id",
        "created_at",
        "grid_id",
        "category",
    ),
    Index(
        f"ix_{PROJECTION_NAME}_requests_community_created",
        "community_id",
        "created_at",
        "grid_id",
        "category",
    ),
    Index(f"ix_{PROJECTION_NAME}_requests_grid_created", "grid_id", "created_at"),
    # the dispatch queue: requests waiting for dispatch, oldest first, by community / town
    Index(f"ix_{PROJECTION_NAME}_requests_waiting", "waiting_since"),
    Index(f"ix_{PROJECTION_NAME}_requests_community_waiting", "community_id", "waiting_since"),
    Index(f"ix_{PROJECTION_NAME}_requests_town_waiting", "town_id", "waiting_since"),
    # /stats' dispatch wait: the dispatched requests only (NULL for the others), sorted
    Index(f"ix_{PROJECTION_NAME}_requests_dispatch_wait", "dispatch_wait_seconds", "created_at"),
)

#: The people on a request beside its current level: ``assist`` rows, key
#: ``<level>:<unit_id>``, for each level the request went up from (its handlers stay on it,
#: 协助; ``RequestState.assisting``); ``cohandler`` rows, key the username, for each
#: co-handler (协办), ``done`` when none of their parts is open. "The requests I assist"
#: and "a partner's requests" are index lookups on (kind, key).
ASSIST = "assist"
COHANDLER = "cohandler"
people = Table(
    f"{PROJECTION_NAME}_request_people",
    metadata,
    Column("request_id", _ID, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("done", Boolean(), nullable=False),
    Index(f"ix_{PROJECTION_NAME}_request_people_key", "kind", "key", "request_id"),
)

timeline = Table(
    f"{PROJECTION_NAME}_timeline",
    metadata,
    Column("request_id", _ID, primary_key=True),
    # the event's originator_version: a re-delivered event collides here too
    Column("position", Integer(), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("data", _JSON, nullable=False),  # the timeline entry's own fields
)

reviews = Table(
    f"{PROJECTION_NAME}_reviews",
    metadata,
    Column("request_id", _ID, primary_key=True),
    Column("position", Integer(), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reached", Boolean(), nullable=False),
    Column("completion", String(8), nullable=True),
    Column("progress", String(8), nullable=True),
    Column("effect", String(8), nullable=True),
    Column("satisfaction", String(8), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("comment", _TEXT, nullable=False),
    # caller (a follow-up call) or resident (a self-review by link); revision 0010
    Column("source", String(16), nullable=False, server_default="caller"),
)

#: The counts of the street-office operations (revision 0009), last in :data:`FIGURE_COUNTS`.
OPERATION_COUNTS: tuple[str, ...] = (
    "returned",
    "redirected",
    "extensions_asked",
    "extensions_approved",
    "urged",
    "warned",
    "out_of_scope",
    "closed_unreached",
    "dispatched",
)

#: The counts of the notifications (revision 0010): reached reviews made by the resident
#: themselves from the tracking link (限时反馈).
NOTIFY_COUNTS: tuple[str, ...] = ("self_reviews",)
#: The requests merged into others (revision 0017): they count here and in their reviews
#: only; the work is their primary's.
MERGE_COUNTS: tuple[str, ...] = ("merged",)
#: The counts added after the first revision of the figures, with a server default of 0.
LATER_COUNTS: tuple[str, ...] = (*OPERATION_COUNTS, *NOTIFY_COUNTS, *MERGE_COUNTS)

#: What :mod:`projections.figures` counts for each unit and day, in this order.
FIGURE_COUNTS: tuple[str, ...] = (
    "received",
    "closed",
    "closed_on_time",
    "escalations",
    "overdue",
    *(f"open_{tier.value}" for tier in LADDER),
    "reached",
    "satisfied",
    *(f"{dimension}_{answer.value}" for dimension in DIMENSIONS for answer in Answer),
    *OPERATION_COUNTS,
    *NOTIFY_COUNTS,
    *MERGE_COUNTS,
)

#: The figures of the requests received on one day (UTC) under one unit (a grid, a
#: community, a town, or ``*``: all), as those requests stand now.
figures = Table(
    f"{PROJECTION_NAME}_figures",
    metadata,
    Column("unit_id", _ID, primary_key=True),
    Column("day", Date(), primary_key=True),
    *(
        Column(name, Integer(), nullable=False)
        for name in FIGURE_COUNTS
        if name not in LATER_COUNTS
    ),
    # revision 0009's (the rows before it are counted again by the migration), 0010's, 0017's
    *(Column(name, Integer(), nullable=False, server_default="0") for name in LATER_COUNTS),
)

#: Every stay of a request at a post (a level on a unit): :class:`domain.performance.
#: Stint` as a row (revision 0012). The assessment's detail (the requests behind a count,
#: the time to resolve) and any period that is not a whole month read these.
posts = Table(
    f"{PROJECTION_NAME}_posts",
    metadata,
    Column("request_id", _ID, primary_key=True),
    Column("seq", Integer(), primary_key=True),
    Column("level", String(32), nullable=False),
    Column("unit_id", _ID, nullable=False),
    Column("grid_id", _ID, nullable=False),
    Column("community_id", _ID, nullable=False),
    Column("town_id", _ID, nullable=False),
    Column("category", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("handler", String(64), nullable=False),  # who accepted it; "" nobody
    Column("accepted_at", UtcDateTime(), nullable=True),
    Column("responded", Boolean(), nullable=False),  # accepted within the response window
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("on_time", Boolean(), nullable=False),
    Column("overdue", Boolean(), nullable=False),
    Column("ended", String(16), nullable=False),  # how it ended; "" still at the post
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("urges", Integer(), nullable=False),
    Column("reviews_reached", Integer(), nullable=False),
    Column("reviews_satisfied", Integer(), nullable=False),
    Column("last_satisfied", Boolean(), nullable=True),
    Column("final", Boolean(), nullable=False),  # holds the request's last reached review
    # a duplicate's stay at the post that resolved its primary (revision 0017): it counts
    # its resident's reviews only
    Column("followed", Boolean(), nullable=False, server_default=false()),
    Index(f"ix_{PROJECTION_NAME}_posts_grid_started", "grid_id", "started_at"),
    Index(f"ix_{PROJECTION_NAME}_posts_community_started", "community_id", "started_at"),
    Index(f"ix_{PROJECTION_NAME}_posts_town_started", "town_id", "started_at"),
    Index(f"ix_{PROJECTION_NAME}_posts_handler_started", "handler", "started_at"),
    Index(f"ix_{PROJECTION_NAME}_posts_started", "started_at"),
)

#: The stints' counts (:data:`domain.performance.POST_COUNTS`) by the local month they
#: began in, their level, grid and handler (revision 0012): a month's league table over
#: every grid sums a few thousand rows. The grid's community and town are kept beside it
#: for the tables of those units.
post_counts = Table(
    f"{PROJECTION_NAME}_post_counts",
    metadata,
    Column("month", String(7), primary_key=True),  # YYYY-MM, CLOSELOOP_TIMEZONE
    Column("level", String(32), primary_key=True),
    Column("grid_id", _ID, primary_key=True),
    Column("handler", String(64), primary_key=True),
    Column("community_id", _ID, nullable=False),
    Column("town_id", _ID, nullable=False),
    *(Column(name, Integer(), nullable=False) for name in POST_COUNTS),
    Index(f"ix_{PROJECTION_NAME}_post_counts_handler", "handler", "month"),
)

#: The stints' counts by the local month they began in and the unit whose figures they
#: are in (revision 0014): a stint counts in its grid's, its community's and its town's
#: row (``kind`` grid, community, town). A league table of a month reads one row per unit,
#: with nothing to group; a unit's figures for a month, one row.
unit_counts = Table(
    f"{PROJECTION_NAME}_unit_counts",
    metadata,
    Column("month", String(7), primary_key=True),  # YYYY-MM, CLOSELOOP_TIMEZONE
    Column("kind", String(16), primary_key=True),  # grid, community or town
    Column("unit_id", _ID, primary_key=True),
    *(Column(name, Integer(), nullable=False) for name in POST_COUNTS),
    sqlite_with_rowid=False,  # kept in key order: a month's units are one range
)

#: Where a dead-letter row says why it is there.
FAILED = "failed"  # the projection failed on this event
BLOCKED = "blocked"  # an earlier event of the same request is quarantined: this one waits

#: The dead-letter table: events the projection could not process (``failed``), and the
#: later events of the same requests, parked behind them in order (``blocked``), so that a
#: request is never half applied. The tracking position moves past each of them in the
#: transaction that writes its row; ``closeloop projections retry`` (:mod:`projections.
#: quarantine`) applies them once the cause is fixed, and deletes their rows.
dead_letters = Table(
    f"{PROJECTION_NAME}_dead_letters",
    metadata,
    # the event's notification id in the store's log (its position)
    Column("position", BigInteger(), primary_key=True, autoincrement=False),
    Column("request_id", _ID, nullable=False),  # the originator id
    Column("version", Integer(), nullable=False),  # the originator version
    Column("topic", String(255), nullable=False),
    Column("state", String(8), nullable=False),  # FAILED or BLOCKED
    Column("error", _TEXT, nullable=False),  # the last failure, or what it waits behind
    Column("attempts", Integer(), nullable=False),  # failures, retries included
    Column("quarantined_at", UtcDateTime(), nullable=False),
    Column("tried_at", UtcDateTime(), nullable=False),  # the last attempt
    Index(f"ix_{PROJECTION_NAME}_dead_letters_request", "request_id", "position"),
)

#: The tracking table, as eventsourcing-sqlalchemy defines it (one row per application,
#: holding the last notification id processed); defined here so that it can be created
#: and reset without constructing a recorder.
tracking_table: Table = SQLAlchemyDatastore.define_record_class(
    cls_name="NotificationTrackingRecord",
    table_name=TRACKING_TABLE_NAME,
    schema_name=None,
    base_cls=NotificationTrackingRecord,
).__table__


def create_tables(engine: Engine) -> None:
    """Create the read-model tables and the tracking table where missing (start-up)."""
    metadata.create_all(engine)
    tracking_table.create(engine, checkfirst=True)

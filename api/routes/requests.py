"""Residents' intake, handlers' actions and tasks, callers' follow-ups, supervisors' board.

Commands go to the request's workflow (Temporal Updates); reads come from the projections.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api import duplicates, intake_limits, ledger, privacy, roster
from api.bounds import Instant, Limit, Offset
from api.deps import (
    CurrentUser,
    EngineDep,
    OptionalUser,
    Principal,
    SealerDep,
    SettingsDep,
    client_address,
    require_roles,
)
from api.errors import Refusal, request_not_found
from api.intake_limits import Rule, TooManyFilings, phone_key
from api.photos import MediaDep, media_of, photo_refs
from api.request_schemas import (
    EscalateIn,
    ProgressIn,
    RequestIn,
    ResolveIn,
    RevealIn,
    ReviewIn,
)
from api.roster import InvalidRoster, Role
from api.routes.categories import fileable
from api.routes.track import public_of
from api.text import Text
from closeloop.settings import Settings
from domain.ladder import DEFAULT_DAY_SECONDS, Level
from domain.lifecycle import Invalid, Status
from domain.place import place
from domain.privacy import Sealer, Sight
from domain.state import Intake
from notify.sender import counts as message_counts
from projections import queries
from workflows.commands import Command, CommandError, file_request, send
from workflows.messages import Actor, HandlerCommand, ReviewCommand

router = APIRouter(tags=["requests"])

#: Request ids derived from a client's Idempotency-Key live in this namespace.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d1c3e-1351-4c1e-9a55-c105e100b000")

#: How long ``consistent=true`` waits for the projections to pass a command's event.
CONSISTENCY_WAIT_SECONDS = 10.0

_STATUS = {
    "refused": status.HTTP_409_CONFLICT,
    "closed": status.HTTP_409_CONFLICT,
    "not_assigned": status.HTTP_403_FORBIDDEN,
    "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "not_found": status.HTTP_404_NOT_FOUND,
    "unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}

#: When a client may try again after a 503 (Temporal unreachable), in seconds.
RETRY_AFTER_SECONDS = 5


def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


TemporalDep = Annotated[Client, Depends(get_temporal)]
Handler = Annotated[Principal, Depends(require_roles(Role.HANDLER))]
#: Progress notes come from the handlers and from partners called in as co-handlers.
Noter = Annotated[Principal, Depends(require_roles(Role.HANDLER, Role.PARTNER))]
Caller = Annotated[Principal, Depends(require_roles(Role.CALLER))]
Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
Consistent = Annotated[
    bool,
    Query(description="wait until the read models include this command's event"),
]


def _with_assignees(view: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """A request as the API shows staff: the view plus who is assigned at its level."""
    users = roster.users_assigned(view["level_unit_id"], Level(view["level"]), db=engine)
    return {
        **view,
        "assignees": [{"username": u.username, "display_name": u.display_name} for u in users],
    }


def _shown(
    view: dict[str, Any], user: Principal | None, engine: Engine, sealer: Sealer
) -> dict[str, Any]:
    """``view`` as ``user`` may see it (domain.privacy), with its assignees; 404 when the
    request is not theirs to know of."""
    shown = privacy.present(view, user, sealer)
    if shown is None:
        raise request_not_found()
    shown["primary"] = _primary_of(view, engine)
    return _with_assignees(shown, engine)


#: What a merged request shows of the request it follows (合并): its state, nothing of its
#: resident.
PRIMARY_FIELDS = ("id", "status", "tier", "level", "level_unit_id", "deadline", "overdue")


def _primary_of(view: dict[str, Any], engine: Engine) -> dict[str, Any] | None:
    """The state of the request a merged request follows; None when it follows none."""
    if view.get("status") != Status.MERGED.value or not view.get("merged_into"):
        return None
    with engine.connect() as conn:
        primary = queries.get_request(conn, view["merged_into"])
    return {k: primary[k] for k in PRIMARY_FIELDS} if primary is not None else None


def shown_all(
    views: list[dict[str, Any]], user: Principal, engine: Engine, sealer: Sealer
) -> list[dict[str, Any]]:
    return [_with_assignees(v, engine) for v in privacy.visible(views, user, sealer)]


async def read_view(engine: Engine, request_id: str) -> dict[str, Any] | None:
    """The request's read model (its contact masked and sealed), or None."""

    def read() -> dict[str, Any] | None:
        with engine.connect() as conn:
            return queries.get_request(conn, request_id)

    return await run_in_threadpool(read)


async def _wait_projected(engine: Engine, request_id: str, changes: int) -> None:
    """Read-your-writes: block until the read model holds ``changes`` timeline entries."""
    loop = asyncio.get_running_loop()
    end = loop.time() + CONSISTENCY_WAIT_SECONDS
    while True:
        view = await read_view(engine, request_id)
        if view is not None and len(view["timeline"]) >= changes:
            return
        if loop.time() > end:
            raise Refusal(
                504,
                "lagging",
                "the command was carried out but the read models lag behind; "
                "read the request again shortly",
            )
        await asyncio.sleep(0.02)


def _count_filing(http: Request, settings: Settings, phone: str, sealer: Sealer) -> None:
    """Count an anonymous filing per client address and phone; 429 over a limit."""
    address = client_address(http) or "unknown"
    keys = [
        ("address", f"address:{address}", Rule(settings.intake_per_address, timedelta(minutes=1))),
        (
            "phone number",
            phone_key(phone, sealer.derive("intake-phone")),
            Rule(settings.intake_per_phone, timedelta(hours=1)),
        ),
    ]
    try:
        intake_limits.admit(http.app.state.engine, keys)
    except TooManyFilings as e:
        raise e.refusal() from None


def clock_of(settings: Settings) -> dict[str, Any]:
    """The rules of a new request's clock: warnings, extensions, and working days (which
    need real days: the compressed demo clock counts calendar days)."""
    return {
        "warn_share": settings.warn_share,
        "max_extensions": settings.max_extensions,
        "working_days": settings.day_seconds == DEFAULT_DAY_SECONDS,
        "self_review_seconds": settings.self_review_seconds,
    }


def refusal_of(error: CommandError) -> Refusal:
    # Temporal could not be reached: the client may retry
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if error.kind == "unavailable" else None
    return Refusal(
        _STATUS[error.kind],
        error.code,
        error.message,
        field=error.field,
        params=error.params,
        headers=retry,
    )


@router.post("/requests", status_code=status.HTTP_201_CREATED)
async def file_a_request(
    body: RequestIn,
    http: Request,
    user: OptionalUser,
    engine: EngineDep,
    settings: SettingsDep,
    client: TemporalDep,
    sealer: SealerDep,
    store: MediaDep,
    consistent: Consistent = False,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """File a resident's request (anyone; staff may file for a resident).

    The reply holds ``tracking_token`` (and ``track_url``), the resident's secret link,
    shown here only. A resident's reply is the tracking view: no staff, no contact.
    ``lat``/``long``, ``address`` and ``building`` say where it is; ``photos`` lists up
    to 4 photos uploaded with ``POST /photos``.
    """
    try:  # where it is: checked before anything is counted or kept
        place(body.lat, body.long, body.address, body.building)
    except Invalid as e:
        raise Refusal(422, e.code, str(e), field=e.field) from None
    photos = await run_in_threadpool(photo_refs, store, body.photos)
    if user is None and body.tier is not None:
        raise Refusal(
            422,
            "tier_staff_only",
            "only staff set a request's tier; a resident may mark it urgent",
            field="tier",
        )
    category = await run_in_threadpool(fileable, body.category, engine)
    try:
        grid, community, town = await run_in_threadpool(roster.unit_chain, body.grid_id, db=engine)
    except InvalidRoster as e:
        raise Refusal(422, "unknown_grid", str(e), field="grid_id") from None
    if user is None:
        await run_in_threadpool(_count_filing, http, settings, body.resident.phone, sealer)
    request_id = (
        str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key))
        if idempotency_key
        else str(uuid.uuid4())
    )
    try:
        token = await run_in_threadpool(
            ledger.tracking_token,
            engine,
            request_id,
            ledger.fingerprint(body.model_dump(mode="json")),
            sealer,
        )
    except ledger.DifferentFiling:
        raise Refusal(
            422,
            "idempotency_conflict",
            "this Idempotency-Key was already used for a different request; "
            "use a new key for a new request",
        ) from None
    intake = Intake(
        request_id=request_id,
        grid_id=grid.id,
        community_id=community.id,
        town_id=town.id,
        category=body.category,
        description=body.description,
        channel=body.channel,
        resident_name=body.resident.name,
        resident_phone=body.resident.phone,
        tier=body.tier or category.default_tier,
        urgent=body.urgent,
        manual=await run_in_threadpool(roster.dispatch_mode, community.id, db=engine) == "manual",
        lat=body.lat,
        long=body.long,
        address=body.address,
        building=body.building,
        photos=photos,
    )
    actor = user.username if user else "resident"
    try:
        view = await file_request(
            client, settings.task_queue, intake, actor, settings.day_seconds, **clock_of(settings)
        )
    except CommandError as e:
        if e.kind != "closed":
            raise refusal_of(e) from None
        existing = await read_view(engine, request_id)
        if existing is None:
            raise refusal_of(e) from None
        view = existing
    if consistent:
        await _wait_projected(engine, request_id, len(view["timeline"]))
    link = {"tracking_token": token, "track_url": f"/track/{token}"}
    if user is None or privacy.sight_of(view, user) is Sight.NONE:
        # a resident, or staff filing outside their units: the tracking view and the link
        return {**public_of(view, grid.name), **link}
    return {**await run_in_threadpool(_shown, view, user, engine, sealer), **link}


@router.get("/requests/{request_id}")
async def read_a_request(
    request_id: str, user: CurrentUser, engine: EngineDep, sealer: SealerDep
) -> dict[str, Any]:
    """One request with its timeline (staff who may know of it: domain.privacy); the
    resident's contact in full or masked (``contact``), ``may_reveal`` when it can be
    revealed with ``POST /requests/{id}/reveal``."""
    view = await read_view(engine, request_id) if is_uuid(request_id) else None
    if view is None:
        raise request_not_found()
    return await run_in_threadpool(_shown, view, user, engine, sealer)


#: Who is shown likely duplicates: the platform that sorts requests, the handlers who may see
#: the request, supervisors and admins.
DuplicateReader = Annotated[
    Principal,
    Depends(require_roles(Role.DISPATCHER, Role.HANDLER, Role.SUPERVISOR, Role.ADMIN)),
]


@router.get("/requests/{request_id}/duplicates")
async def likely_duplicates(
    request_id: str,
    user: DuplicateReader,
    engine: EngineDep,
    settings: SettingsDep,
    limit: Annotated[
        int,
        Query(ge=1, le=duplicates.MAX_LIMIT, description="suggestions, 1 to 50 (default 10)"),
    ] = duplicates.DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The open requests that are likely duplicates of this one (疑似重复: nearby in the
    same category, or a similar description in the same grid, filed within the window),
    strongest first, only those the reader may know of; each says why (``reasons``)."""
    view = await read_view(engine, request_id) if is_uuid(request_id) else None
    if view is None or privacy.sight_of(view, user) is Sight.NONE:
        raise request_not_found()
    rule = duplicates.rule_of(settings)
    items = await run_in_threadpool(duplicates.for_reader, engine, view, user, rule, limit)
    return {
        "request_id": request_id,
        "distance_m": rule.distance_m,
        "days": rule.days,
        "items": items,
    }


@router.post("/requests/{request_id}/reveal")
async def reveal(
    request_id: str, body: RevealIn, user: Supervisor, engine: EngineDep, sealer: SealerDep
) -> dict[str, Any]:
    """Show a masked contact to a supervisor or admin who states why; the record of who,
    when, which request and why is written first (``GET /reveals``)."""
    view = await read_view(engine, request_id) if is_uuid(request_id) else None
    if view is None or privacy.sight_of(view, user) is Sight.NONE:
        raise request_not_found()
    contact = privacy.clear_contact(view, sealer)
    if contact is None:
        raise Refusal(
            409,
            "contact_unavailable",
            "this request's contact is not sealed in the read models yet; "
            "run `closeloop projections reseal`",
        )
    record = await run_in_threadpool(
        ledger.record_reveal, engine, request_id, user.username, user.role.value, body.reason
    )
    return {"request_id": request_id, "resident": contact, "reveal": record.json()}


@router.get("/reveals")
async def reveals(
    user: Supervisor,
    engine: EngineDep,
    response: Response,
    request_id: Text | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """The audit of revealed contacts, newest first (``X-Total-Count``: how many)."""
    items, total = await run_in_threadpool(
        lambda: ledger.list_reveals(engine, request_id=request_id, limit=limit, offset=offset)
    )
    response.headers["X-Total-Count"] = str(total)
    return [item.json() for item in items]


@router.get("/requests")
async def board(
    user: Supervisor,
    engine: EngineDep,
    sealer: SealerDep,
    status_: Annotated[
        Literal["waiting_dispatch", "assigned", "in_progress", "resolved", "closed"] | None,
        Query(alias="status"),
    ] = None,
    tier: Literal["1d", "3d", "5d", "1m"] | None = None,
    unit_id: Text | None = None,
    overdue: bool | None = None,
    category: Text | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    warned: bool | None = None,
    urged: bool | None = None,
    extension_pending: bool | None = None,
    cohandled: bool | None = None,
    waiting_dispatch: bool | None = None,
    out_of_scope: bool | None = None,
) -> dict[str, Any]:
    """The supervisor's board (督办看板): requests by status, tier, unit, overdue, and by
    the street-office operations' states (each true or false; absent: either way)."""

    def read() -> dict[str, Any]:
        with engine.connect() as conn:
            page = queries.list_requests(
                conn, status=status_, tier=tier, unit_id=unit_id, overdue=overdue,
                category=category, limit=limit, offset=offset, warned=warned, urged=urged,
                extension_pending=extension_pending, cohandled=cohandled,
                waiting_dispatch=waiting_dispatch, out_of_scope=out_of_scope,
            )  # fmt: skip
        page["items"] = shown_all(page["items"], user, engine, sealer)
        return page

    return await run_in_threadpool(read)


async def act(
    http: Request,
    request_id: str,
    action: str,
    command: Command,
    user: Principal,
    consistent: bool,
    update_id: str | None,
) -> dict[str, Any]:
    engine: Engine = http.app.state.engine
    sealer: Sealer = http.app.state.sealer
    if not is_uuid(request_id):
        raise request_not_found()
    try:
        view = await send(get_temporal(http), request_id, action, command, update_id=update_id)
    except CommandError as e:
        raise refusal_of(e) from None
    if consistent:
        await _wait_projected(engine, request_id, len(view["timeline"]))
    return await run_in_threadpool(_shown, view, user, engine, sealer)


def actor_of(user: Principal) -> Actor:
    return Actor(user.username, user.role.value, list(user.assignments))


IdempotencyKey = Annotated[str | None, Header(max_length=200)]


@router.post("/requests/{request_id}/accept")
async def accept(
    http: Request, request_id: str, user: Handler,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """签收: a handler at the current level takes the request on."""
    cmd = HandlerCommand(actor_of(user))
    return await act(http, request_id, "accept", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/progress")
async def progress(
    http: Request, request_id: str, body: ProgressIn, user: Noter,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Add a progress note: a handler at the current level, one assisting from a level it
    went up from, or a co-handler (``assisting`` on the timeline entry)."""
    photos = await run_in_threadpool(photo_refs, media_of(http), body.photos)
    cmd = HandlerCommand(actor_of(user), body.note, photos)
    return await act(http, request_id, "progress", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/escalate")
async def escalate(
    http: Request, request_id: str, body: EscalateIn, user: Handler,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """上报: push the request up one level at once, with a reason."""
    cmd = HandlerCommand(actor_of(user), body.reason)
    return await act(http, request_id, "escalate", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/resolve")
async def resolve(
    http: Request, request_id: str, body: ResolveIn, user: Handler,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Resolve: the request goes to the follow-up caller."""
    photos = await run_in_threadpool(photo_refs, media_of(http), body.photos)
    cmd = HandlerCommand(actor_of(user), body.resolution, photos)
    return await act(http, request_id, "resolve", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/review")
async def review(
    http: Request, request_id: str, body: ReviewIn, user: Caller,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """回访: record the four-dimension review; it closes, reopens or counts an attempt."""
    cmd = ReviewCommand(
        actor=actor_of(user),
        reached=body.reached,
        completion=body.completion.value if body.completion else None,
        progress=body.progress.value if body.progress else None,
        effect=body.effect.value if body.effect else None,
        satisfaction=body.satisfaction.value if body.satisfaction else None,
        comment=body.comment,
    )
    return await act(http, request_id, "review", cmd, user, consistent, idempotency_key)


@router.get("/tasks")
async def my_tasks(
    user: Annotated[Principal, Depends(require_roles(Role.HANDLER, Role.PARTNER))],
    engine: EngineDep,
    sealer: SealerDep,
) -> list[dict[str, Any]]:
    """A handler's open requests at their posts, soonest deadline first, then those they
    assist (``assisting``: a level the request went up from, or called in as a
    co-handler). A partner's: the requests they are a co-handler of, their open parts
    first (``cohandler``: their part)."""
    posts = [(a.unit_id, a.level.value) for a in user.assignments]

    def read() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            if user.role is Role.PARTNER:
                items = queries.cohandled(conn, user.username, limit=None)["items"]
            else:
                items = queries.tasks(conn, assignments=posts, username=user.username)
        return shown_all(items, user, engine, sealer)

    return await run_in_threadpool(read)


@router.get("/followups")
async def followups(
    user: Caller,
    engine: EngineDep,
    sealer: SealerDep,
    response: Response,
    limit: Limit = 50,
    offset: Offset = 0,
    self_review: bool = False,
) -> list[dict[str, Any]]:
    """Resolved requests waiting for the follow-up call, oldest resolve first, a page at
    a time; the ``X-Total-Count`` header says how many wait in all. A request whose
    resident may still review it from the tracking link (until its ``review_until``)
    waits for that first: ``?self_review=true`` lists those instead."""

    def read() -> tuple[list[dict[str, Any]], int]:
        with engine.connect() as conn:
            items = queries.followups(conn, limit=limit, offset=offset, self_review=self_review)
            total = queries.count_followups(conn, self_review=self_review)
            return shown_all(items, user, engine, sealer), total

    items, total = await run_in_threadpool(read)
    response.headers["X-Total-Count"] = str(total)
    return items


@router.get("/stats")
async def stats(
    user: Supervisor,
    engine: EngineDep,
    unit_id: Text | None = None,
    date_from: Annotated[Instant | None, Query(alias="from")] = None,
    date_to: Annotated[Instant | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Completion, on-time and satisfaction rates for a unit and period (to is exclusive);
    ``notifications``: the messages per channel and state (the whole office, every
    period)."""
    start, end = _instant(date_from), _instant(date_to)
    if start and end and start >= end:
        raise Refusal(422, "bad_period", "'from' must be before 'to'", field="from")

    def read() -> dict[str, Any]:
        with engine.connect() as conn:
            figures = queries.stats(conn, unit_id=unit_id, date_from=start, date_to=end)
        return {**figures, "notifications": message_counts(engine)}

    return await run_in_threadpool(read)


def _instant(value: datetime | date | None) -> datetime | None:
    """A date means its midnight in UTC; a naive time is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

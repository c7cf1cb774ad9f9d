"""Street-office operations: the dispatch queue and dispatch (分解交办), return (退单),
redirect (改派), re-tier, urging (催办), extensions (延期), co-handlers (吹哨报到) and
closing out of scope (不予受理).

Each move is an Update of the request's workflow, recorded through the same path as the
handlers' actions (``api.routes.requests.act``). The API checks the role and, for a
dispatcher, that one of their posts covers the request's community or town; the workflow
checks everything that depends on the request's state and its handlers' posts. Someone
who may not know of the request gets 404, as everywhere (domain.privacy).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from api import privacy, roster
from api.bounds import Limit, Offset
from api.deps import EngineDep, Principal, SealerDep, require_roles
from api.errors import Refusal, request_not_found
from api.request_schemas import (
    CohandlerDoneIn,
    CohandlerIn,
    DispatchIn,
    ExtensionDecisionIn,
    ExtensionIn,
    ReasonIn,
    RedirectIn,
    RetierIn,
    SelfReviewIn,
    UrgeIn,
)
from api.roster import InvalidRoster, Role
from api.routes.categories import fileable
from api.routes.requests import (
    Consistent,
    IdempotencyKey,
    act,
    actor_of,
    get_temporal,
    is_uuid,
    read_view,
    refusal_of,
    shown_all,
)
from api.routes.track import RESIDENT_ACTOR, SECRET_LINK_HEADERS, public_of, tracked_request
from domain.privacy import Sight
from projections import queries
from workflows.commands import CommandError, final_view, send
from workflows.messages import Actor, OpsCommand, ReviewCommand

router = APIRouter(tags=["operations"])

Platform = Annotated[
    Principal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))
]
Handler = Annotated[Principal, Depends(require_roles(Role.HANDLER))]
HandlerOrSupervisor = Annotated[Principal, Depends(require_roles(Role.HANDLER, Role.SUPERVISOR))]
CohandlerRole = Annotated[
    Principal, Depends(require_roles(Role.PARTNER, Role.HANDLER, Role.SUPERVISOR))
]


async def _known(http: Request, request_id: str, user: Principal) -> dict[str, Any]:
    """The request's read model, when ``user`` may know of it; else 404."""
    view = await read_view(http.app.state.engine, request_id) if is_uuid(request_id) else None
    if view is None or privacy.sight_of(view, user) is Sight.NONE:
        raise request_not_found()
    return view


async def _grid_of_community(http: Request, grid_id: str, view: dict[str, Any]) -> str:
    """``grid_id`` when it names a grid of the request's community; else 422."""
    try:
        grid, community, _town = await run_in_threadpool(
            roster.unit_chain, grid_id, db=http.app.state.engine
        )
    except InvalidRoster as e:
        raise Refusal(422, "unknown_grid", str(e), field="grid_id") from None
    if community.id != view["community_id"]:
        raise Refusal(
            422,
            "grid_not_in_community",
            "the grid must belong to the request's community",
            field="grid_id",
        )
    return grid.id


@router.get("/dispatch")
async def dispatch_queue(
    user: Platform,
    engine: EngineDep,
    sealer: SealerDep,
    response: Response,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Requests waiting for dispatch in the caller's units, oldest first (a dispatcher:
    the communities and towns of their posts; a supervisor: all). ``X-Total-Count``."""
    units = list(user.dispatch_units) if user.role is Role.DISPATCHER else None

    def read() -> tuple[list[dict[str, Any]], int]:
        with engine.connect() as conn:
            page = queries.dispatch_queue(conn, units, limit=limit, offset=offset)
        return shown_all(page["items"], user, engine, sealer), int(page["total"])

    items, total = await run_in_threadpool(read)
    response.headers["X-Total-Count"] = str(total)
    return items


@router.post("/requests/{request_id}/dispatch")
async def dispatch(
    http: Request, request_id: str, body: DispatchIn, user: Platform,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """交办: assign a waiting request to a grid of its community and a tier; its tier's
    clock starts now. ``category`` corrects the request's category."""
    view = await _known(http, request_id, user)
    grid_id = await _grid_of_community(http, body.grid_id, view)
    category = None
    if body.category is not None:
        category = await run_in_threadpool(_active_category, http.app.state.engine, body.category)
    cmd = OpsCommand(
        actor_of(user), body.note, grid_id=grid_id, tier=body.tier.value, category=category
    )
    return await act(http, request_id, "dispatch", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/return")
async def return_request(
    http: Request, request_id: str, body: ReasonIn, user: Handler,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """退单: a handler at the current level sends the request back to its community's
    platform before resolving it; its clock stops until it is dispatched again."""
    cmd = OpsCommand(actor_of(user), body.reason)
    return await act(http, request_id, "return", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/redirect")
async def redirect(
    http: Request, request_id: str, body: RedirectIn, user: Platform,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """改派: another grid of the community, same level; the clock keeps running."""
    view = await _known(http, request_id, user)
    grid_id = await _grid_of_community(http, body.grid_id, view)
    cmd = OpsCommand(actor_of(user), body.reason, grid_id=grid_id)
    return await act(http, request_id, "redirect", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/retier")
async def retier(
    http: Request, request_id: str, body: RetierIn, user: Platform,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Move the request to another tier: that tier's level owns it, its deadline counts
    from now."""
    await _known(http, request_id, user)
    cmd = OpsCommand(actor_of(user), body.reason, tier=body.tier.value)
    return await act(http, request_id, "retier", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/urge")
async def urge(
    http: Request, request_id: str, body: UrgeIn, user: HandlerOrSupervisor,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """催办: a supervisor, or a handler posted above the current level, urges it."""
    cmd = OpsCommand(actor_of(user), body.note)
    return await act(http, request_id, "urge", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/extension")
async def ask_extension(
    http: Request, request_id: str, body: ExtensionIn, user: Handler,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """延期: a handler at the current level asks for a later deadline (``until``, at most
    the tier's own length again); the clock keeps running while the ask waits."""
    cmd = OpsCommand(actor_of(user), body.reason, until=body.until)
    return await act(http, request_id, "extension", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/extension/decision")
async def decide_extension(
    http: Request, request_id: str, body: ExtensionDecisionIn, user: HandlerOrSupervisor,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """A handler one level up, or a supervisor, approves (the deadline moves) or refuses
    the waiting extension ask."""
    cmd = OpsCommand(actor_of(user), body.note, approve=body.approve)
    return await act(http, request_id, "extension_decision", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/cohandlers")
async def add_cohandler(
    http: Request, request_id: str, body: CohandlerIn, user: HandlerOrSupervisor,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """吹哨报到: call in a partner organisation's user or a staff member as a co-handler."""
    found = await run_in_threadpool(
        roster.get_user_by_username, body.username, db=http.app.state.engine
    )
    if found is None or found.disabled or found.role not in (Role.PARTNER, Role.HANDLER):
        raise Refusal(
            422,
            "unknown_cohandler",
            "a co-handler is an active partner or handler, by username",
            field="username",
        )
    cmd = OpsCommand(
        actor_of(user),
        username=found.username,
        task=body.task,
        due=body.due,
        organisation=found.organisation,
    )
    return await act(http, request_id, "add_cohandler", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/cohandlers/{username}/done")
async def cohandler_done(
    http: Request, request_id: str, username: str, body: CohandlerDoneIn, user: CohandlerRole,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """A co-handler marks their part done (a supervisor may mark it for them)."""
    cmd = OpsCommand(actor_of(user), body.note, username=username)
    return await act(http, request_id, "cohandler_done", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/close-out-of-scope")
async def close_out_of_scope(
    http: Request, request_id: str, body: ReasonIn, user: HandlerOrSupervisor,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """不予受理 / 无法办理: a community or town committee handler, or a supervisor, closes
    the request as outside the office's scope, with the reason the resident will read
    on the tracking page (they may appeal once within 7 days)."""
    cmd = OpsCommand(actor_of(user), body.reason)
    return await act(http, request_id, "close_out_of_scope", cmd, user, consistent, idempotency_key)


@router.post("/track/{token}/appeal")
async def appeal(
    http: Request, token: str, body: ReasonIn, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """The resident appeals an out-of-scope closure, once, within 7 days, from the
    tracking link: the request reopens at community level with the appeal on its
    timeline. The reply is the tracking view."""
    response.headers.update(SECRET_LINK_HEADERS)
    engine = http.app.state.engine
    request_id = await run_in_threadpool(tracked_request, engine, token)
    if request_id is None:
        raise request_not_found()
    cmd = OpsCommand(Actor(RESIDENT_ACTOR, RESIDENT_ACTOR), body.reason)
    try:
        view = await send(get_temporal(http), request_id, "appeal", cmd, update_id=idempotency_key)
    except CommandError as e:
        if e.kind == "closed":  # the workflow ended: say why no appeal is possible
            ended = await final_view(get_temporal(http), request_id)
            raise _why_not_appealable(ended or await read_view(engine, request_id)) from None
        raise refusal_of(e) from None
    grid = await run_in_threadpool(roster.get_unit, view["grid_id"], db=engine)
    return public_of(view, grid.name if grid else None, http.app.state.settings.day_seconds)


@router.post("/track/{token}/review")
async def self_review(
    http: Request, token: str, body: SelfReviewIn, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """限时反馈: the resident reviews the resolution themselves from the tracking link,
    while its window is open (``review_until`` in the tracking view). It is a reached
    review with source ``resident``: it closes or reopens the request as a caller's
    review does. The reply is the tracking view."""
    response.headers.update(SECRET_LINK_HEADERS)
    engine = http.app.state.engine
    request_id = await run_in_threadpool(tracked_request, engine, token)
    if request_id is None:
        raise request_not_found()
    cmd = ReviewCommand(
        Actor(RESIDENT_ACTOR, RESIDENT_ACTOR),
        reached=True,
        completion=body.completion,
        progress=body.progress,
        effect=body.effect,
        satisfaction=body.satisfaction,
        comment=body.comment,
    )
    try:
        view = await send(get_temporal(http), request_id, "review", cmd, update_id=idempotency_key)
    except CommandError as e:
        if e.kind == "closed":  # the workflow ended: the request is closed
            raise Refusal(409, "request_closed", "the request is closed") from None
        raise refusal_of(e) from None
    grid = await run_in_threadpool(roster.get_unit, view["grid_id"], db=engine)
    return public_of(view, grid.name if grid else None, http.app.state.settings.day_seconds)


def _why_not_appealable(view: dict[str, Any] | None) -> Refusal:
    """The refusal of an appeal to a request whose workflow has ended."""
    if view is not None and view.get("appeal"):
        return Refusal(409, "appeal_used", "this request has been appealed once already")
    if view is not None and view.get("out_of_scope"):
        return Refusal(409, "appeal_window_passed", "the appeal window of 7 days has passed")
    return Refusal(409, "not_appealable", "only a request closed as out of scope can be appealed")


def _active_category(engine: Any, code: str) -> str:
    """``code`` when it is an active category of the catalogue; else 422 naming the active
    ones (:func:`api.routes.categories.fileable`)."""
    return fileable(code, engine).code

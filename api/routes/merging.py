"""Duplicates (合并): merge a request into another, and take it out again.

``POST /requests/{id}/merge`` ``{"into", "reason"}`` and ``POST /requests/{id}/unmerge``
``{"reason"}``, by a dispatcher of the request's community or town, a supervisor, or a
handler at the request's current level. Each is an Update of the merged request's
workflow, which asks the other request's workflow first (an Update through an activity):
both record the link, or neither does. The merged request follows the other one (its
own clock stops); when that one is resolved, each merged request is resolved with the
same resolution and its resident reviews it on their own (``workflows.request``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api import privacy
from api.deps import Principal, require_roles
from api.errors import Refusal, request_not_found
from api.request_schemas import MergeIn, ReasonIn
from api.roster import Role
from api.routes.requests import (
    Consistent,
    IdempotencyKey,
    act,
    actor_of,
    is_uuid,
    read_view,
)
from domain.privacy import Sight
from workflows.messages import MergeCommand

router = APIRouter(tags=["duplicates"])

#: Who merges: the handlers at the current level (the workflow checks the level), the
#: platform's dispatchers (their posts cover the request: domain.privacy) and supervisors.
Merger = Annotated[
    Principal, Depends(require_roles(Role.HANDLER, Role.DISPATCHER, Role.SUPERVISOR))
]


async def _known_to(http: Request, request_id: str, user: Principal) -> dict[str, Any] | None:
    view = await read_view(http.app.state.engine, request_id) if is_uuid(request_id) else None
    if view is None or privacy.sight_of(view, user) is Sight.NONE:
        return None
    return view


@router.post("/requests/{request_id}/merge")
async def merge(
    http: Request, request_id: str, body: MergeIn, user: Merger,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Merge the request into ``into`` (the request it duplicates), with a reason. The
    request then shows ``status`` ``merged`` and ``merged_into``; ``into`` lists it in
    ``duplicates``."""
    if await _known_to(http, request_id, user) is None:
        raise request_not_found()
    if body.into == request_id:
        raise Refusal(
            422, "merge_into_self", "a request cannot be merged into itself", field="into"
        )
    if await _known_to(http, body.into, user) is None:
        raise Refusal(
            422,
            "primary_not_found",
            "no request with this id that you may see: check the id to merge into",
            field="into",
        )
    cmd = MergeCommand(actor_of(user), body.reason, into=body.into)
    return await act(http, request_id, "merge", cmd, user, consistent, idempotency_key)


@router.post("/requests/{request_id}/unmerge")
async def unmerge(
    http: Request, request_id: str, body: ReasonIn, user: Merger,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Take a merged request out of the one it follows, while that one is open: it is
    its own work again, where it was, its tier's clock starting now."""
    cmd = MergeCommand(actor_of(user), body.reason)
    return await act(http, request_id, "unmerge", cmd, user, consistent, idempotency_key)

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

from api.deps import Principal, require_roles
from api.errors import Refusal
from api.request_schemas import MergeIn, ReasonIn
from api.roster import Role
from api.routes.operations import _known
from api.routes.requests import (
    Consistent,
    IdempotencyKey,
    act,
    actor_of,
)
from workflows.messages import MergeCommand

router = APIRouter(tags=["duplicates"])

#: Who merges: the handlers at the current level (the workflow checks the level), the
#: platform's dispatchers (their posts cover the request: domain.privacy) and supervisors.
Merger = Annotated[
    Principal, Depends(require_roles(Role.HANDLER, Role.DISPATCHER, Role.SUPERVISOR))
]


@router.post("/requests/{request_id}/merge")
async def merge(
    http: Request, request_id: str, body: MergeIn, user: Merger,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Merge the request into ``into`` (the request it duplicates), with a reason. The
    request then shows ``status`` ``merged`` and ``merged_into``; ``into`` lists it in
    ``duplicates``."""
    await _known(http, request_id, user)
    if body.into == request_id:
        raise Refusal(
            422, "merge_into_self", "a request cannot be merged into itself", field="into"
        )
    try:
        await _known(http, body.into, user)
    except Refusal:
        raise Refusal(
            422,
            "primary_not_found",
            "no request with this id that you may see: check the id to merge into",
            field="into",
        ) from None
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

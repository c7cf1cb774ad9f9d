"""Staff users: admins, supervisors, handlers (with their posts) and follow-up callers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from api import roster
from api.deps import AdminUser, EngineDep, Principal, refusal, require_roles
from api.roster import Role, RosterError
from api.schemas import UserIn, UserOut

router = APIRouter(prefix="/users", tags=["roster"])

RosterReader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.SUPERVISOR))]


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, _admin: AdminUser, engine: EngineDep) -> UserOut:
    """Add a user; a handler comes with at least one post that fits its unit."""
    try:
        user = roster.create_user(
            body.username,
            body.password,
            body.display_name,
            body.role,
            [post.post() for post in body.assignments],
            db=engine,
        )
    except RosterError as error:
        raise refusal(error) from None
    return UserOut.of(user)


@router.get("", response_model=list[UserOut])
def list_users(_reader: RosterReader, engine: EngineDep, role: Role | None = None) -> list[UserOut]:
    """All users, or those of one role."""
    return [UserOut.of(user) for user in roster.list_users(db=engine, role=role)]

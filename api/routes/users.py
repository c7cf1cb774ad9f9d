"""Staff users: admins, supervisors, handlers (with their posts), follow-up callers,
dispatchers (with their dispatch posts) and partners (with their organisation); an admin
resets a password, disables a user, or changes an organisation or dispatch posts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from api import roster
from api.deps import AdminUser, EngineDep, Principal, refusal, require_roles
from api.errors import Refusal
from api.roster import Role, RosterError
from api.schemas import UserIn, UserOut, UserPatch
from api.text import refuse

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
            organisation=body.organisation,
            dispatch_units=body.dispatch_units,
        )
    except RosterError as error:
        raise refusal(error) from None
    return UserOut.of(user)


@router.get("", response_model=list[UserOut], response_model_exclude_unset=True)
def list_users(reader: RosterReader, engine: EngineDep, role: Role | None = None) -> list[UserOut]:
    """All users, or those of one role; admins see each one's work phone, supervisors not."""
    admin = reader.role is Role.ADMIN
    return [UserOut.of(user, work_phone=admin) for user in roster.list_users(db=engine, role=role)]


@router.patch("/{user_id}", response_model=UserOut)
def change_user(user_id: str, body: UserPatch, admin: AdminUser, engine: EngineDep) -> UserOut:
    """Reset a user's password, disable them (or enable them again), change their
    organisation or (a dispatcher's) dispatch posts. A new password or disabling revokes
    every token the user holds; a disabled user cannot log in. Every check runs before
    anything is written."""
    refuse(user_id, "path", "user_id")
    given = body.model_fields_set
    profile: dict[str, Any] = {}
    if "organisation" in given:  # null clears it
        profile["organisation"] = body.organisation
    if body.dispatch_units is not None:
        profile["dispatch_units"] = body.dispatch_units
    if body.password is None and body.disabled is None and not profile:
        raise Refusal(
            422,
            "nothing_to_change",
            "send a new password, disabled, organisation or dispatch_units",
            field="password",
        )
    if body.disabled and user_id == admin.id:
        raise Refusal(
            422,
            "disable_self",
            "an admin cannot disable their own account; ask another admin",
            field="disabled",
        )
    try:
        found = roster.get_user(user_id, db=engine)
        if found is None:
            raise roster.UnknownUser(f"no user has the id {user_id}")
        if body.password is not None:  # refused before the profile is written
            roster.check_password(body.password, found.username)
        if profile:
            roster.change_user(user_id, db=engine, **profile)
        if body.password is not None:
            roster.set_password(user_id, body.password, db=engine)
        if body.disabled is not None:
            roster.set_disabled(user_id, body.disabled, db=engine)
    except RosterError as error:
        raise refusal(error) from None
    user = roster.get_user(user_id, db=engine)
    if user is None:  # removed meanwhile
        raise refusal(roster.UnknownUser(f"no user has the id {user_id}"))
    return UserOut.of(user)

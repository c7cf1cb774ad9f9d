"""Sign-in (OAuth2 password flow, throttled), sign-out, one's own password, who am I, and
one's own work phone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from api import roster, throttle
from api.deps import CurrentUser, EngineDep, SettingsDep, client_address, refusal, unauthorized
from api.errors import Refusal
from api.roster import RosterError
from api.schemas import PasswordChange, ProfilePatch, Token, UserOut
from api.security import create_access_token, signing_secret
from api.text import refuse
from closeloop.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])


def too_many_attempts(error: throttle.TooManyAttempts) -> Refusal:
    """429 with ``Retry-After``: the account or the address is locked for a while."""
    return Refusal(
        429,
        "too_many_attempts",
        str(error),
        params={"retry_after": error.retry_after},
        headers={"Retry-After": str(error.retry_after)},
    )


def _token(user_id: str, version: int, settings: Settings) -> Token:
    return Token(
        access_token=create_access_token(
            user_id,
            secret=signing_secret(settings),
            minutes=settings.token_minutes,
            version=version,
        )
    )


@router.post(
    "/token",
    response_model=Token,
    responses={429: {"description": "too many failed log-ins; see Retry-After"}},
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> Token:
    """Exchange a username (any case) and password for a bearer token."""
    refuse(form.username, "body", "username")  # no user has one; PostgreSQL cannot compare it
    limits = throttle.Limits.of(settings)
    try:
        ticket = throttle.admit(form.username, client_address(request), limits, db=engine)
    except throttle.TooManyAttempts as error:
        raise too_many_attempts(error) from None
    found = roster.authenticate(form.username, form.password, db=engine)
    if found is None:
        # One answer for an unknown user, a disabled one and a wrong password.
        raise unauthorized("wrong username or password", "bad_credentials")
    throttle.succeeded(ticket, limits, db=engine)
    user, version = found
    return _token(user.id, version, settings)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def log_out(user: CurrentUser, engine: EngineDep) -> Response:
    """Revoke every token of the caller (on every device): they answer 401 from now on."""
    roster.revoke_tokens(user.id, db=engine)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    response_model=Token,
    responses={429: {"description": "too many wrong passwords; see Retry-After"}},
)
def change_password(
    body: PasswordChange,
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
) -> Token:
    """Change one's own password (the old one proves it is the owner). Every token issued
    before is revoked; the answer carries a new one. A wrong old password counts as a
    failed log-in."""
    limits = throttle.Limits.of(settings)
    try:
        ticket = throttle.admit(user.username, client_address(request), limits, db=engine)
    except throttle.TooManyAttempts as error:
        raise too_many_attempts(error) from None
    try:
        version = roster.change_password(user.id, body.old_password, body.new_password, db=engine)
    except roster.UnknownUser:
        raise unauthorized("the token's user no longer exists", "token_invalid") from None
    except RosterError as error:  # the old password was right, the new one is refused
        throttle.succeeded(ticket, limits, db=engine)
        raise refusal(error, field="new_password") from None
    if version is None:
        raise Refusal(403, "wrong_password", "the old password is wrong", field="old_password")
    throttle.succeeded(ticket, limits, db=engine)
    return _token(user.id, version, settings)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The signed-in user, with role and assignments."""
    return UserOut.of(user)


@router.patch("/me", response_model=UserOut)
def change_me(body: ProfilePatch, user: CurrentUser, engine: EngineDep) -> UserOut:
    """Set one's own work phone (``work_phone``: a mobile number or a landline with its
    area code and an optional extension, stored in one spelling; null or blank clears it).
    Residents see it on the tracking page of a request at one's level: a work number,
    never a home phone. Only one's own: no one sets another's."""
    if "work_phone" not in body.model_fields_set:
        raise Refusal(422, "nothing_to_change", "send work_phone", field="work_phone")
    try:
        changed = roster.set_work_phone(user.id, body.work_phone, db=engine)
    except roster.UnknownUser:
        raise unauthorized("the token's user no longer exists", "token_invalid") from None
    except RosterError as error:
        raise refusal(error) from None
    return UserOut.of(changed)

"""Sign-in (OAuth2 password flow) and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api import roster
from api.deps import CurrentUser, EngineDep, SettingsDep, unauthorized
from api.schemas import Token, UserOut
from api.security import create_access_token, signing_secret
from api.text import refuse

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> Token:
    """Exchange a username and password for a bearer token."""
    refuse(form.username, "body", "username")  # no user has one; PostgreSQL cannot compare it
    user = roster.authenticate(form.username, form.password, db=engine)
    if user is None:
        # One answer for an unknown user and a wrong password: no probing for usernames.
        raise unauthorized("wrong username or password", "bad_credentials")
    token = create_access_token(
        user.id, secret=signing_secret(settings), minutes=settings.token_minutes
    )
    return Token(access_token=token)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The signed-in user, with role and assignments."""
    return UserOut.of(user)

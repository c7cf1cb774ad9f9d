"""FastAPI dependencies: the read-side engine, the settings, and who is calling.

The app factory puts ``engine`` (a SQLAlchemy Engine holding the roster and the read
models) and ``settings`` (:class:`closeloop.settings.Settings`) on ``app.state``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine

from api import roster
from api.errors import Refusal
from api.roster import Role, RosterError, UnknownUnit, UnknownUser, UsernameTaken
from api.security import InvalidToken, decode_access_token, signing_secret
from closeloop.settings import Settings
from domain.privacy import Sealer
from domain.state import Assignment

TOKEN_URL = "/api/v1/auth/token"

# auto_error=False: a missing token is not always an error (see OptionalUser).
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_engine(request: Request) -> Engine:
    """The read-side engine: roster and read models."""
    engine: Engine = request.app.state.engine
    return engine


def get_sealer(request: Request) -> Sealer:
    """Opens the read models' sealed contacts for those allowed (api.privacy)."""
    sealer: Sealer = request.app.state.sealer
    return sealer


def client_address(request: Request) -> str | None:
    """The caller's address, as the server saw it (behind a trusted proxy: as the proxy
    passed it in X-Forwarded-For, see ``CLOSELOOP_TRUSTED_PROXIES``)."""
    return request.client.host if request.client else None


def get_settings(request: Request) -> Settings:
    """The settings the app was started with."""
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SealerDep = Annotated[Sealer, Depends(get_sealer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Principal:
    """The signed-in user: who acts, in which role, at which posts."""

    id: str
    username: str
    display_name: str
    role: Role
    assignments: tuple[Assignment, ...]
    #: A partner's outside organisation (others may have one too).
    organisation: str | None = None
    #: A dispatcher's posts: the communities and towns they dispatch for (roster.covers).
    dispatch_units: tuple[str, ...] = ()
    #: The work phone they gave for residents' contact cards (PATCH /auth/me).
    work_phone: str | None = None

    @classmethod
    def of(cls, user: roster.User) -> Principal:
        return cls(
            user.id,
            user.username,
            user.display_name,
            user.role,
            user.assignments,
            organisation=user.organisation,
            dispatch_units=user.dispatch_units,
            work_phone=user.work_phone,
        )


def unauthorized(detail: str, code: str = "unauthorized") -> Refusal:
    """A 401 that tells the client to sign in with a bearer token."""
    return Refusal(401, code, detail, headers={"WWW-Authenticate": "Bearer"})


def refusal(error: RosterError, field: str | None = None) -> Refusal:
    """A refused roster command as HTTP: 409 for a taken username, 404 for an unknown user
    or unit (the one in the path), 422 for a broken rule. ``field`` renames the error's
    field as the body spells it."""
    taken = isinstance(error, UsernameTaken)
    status = 409 if taken else 404 if isinstance(error, UnknownUser | UnknownUnit) else 422
    return Refusal(status, error.code, str(error), field=field or error.field)


def principal_of_token(token: str, engine: Engine, settings: Settings) -> Principal:
    """Who a bearer token (or the pages' session cookie) names, checked against the roster
    on every request: :class:`InvalidToken` when it is bad or expired, its user is gone or
    disabled, or their tokens were revoked since (log-out, new password)."""
    claims = decode_access_token(token, secret=signing_secret(settings))
    user = roster.token_user(claims.user_id, claims.version, db=engine)
    if user is None:
        if roster.get_user(claims.user_id, db=engine) is None:
            raise InvalidToken("the token's user no longer exists")
        raise InvalidToken("the token was revoked: signed out, password changed or user disabled")
    return Principal.of(user)


def get_optional_user(
    token: Annotated[str | None, Depends(oauth2_scheme)],
    engine: EngineDep,
    settings: SettingsDep,
) -> Principal | None:
    """The caller named by the bearer token; None when no token was sent."""
    if token is None:
        return None
    try:
        return principal_of_token(token, engine, settings)
    except InvalidToken as error:
        raise unauthorized(str(error), "token_invalid") from None


OptionalUser = Annotated[Principal | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUser) -> Principal:
    """The caller; 401 unless a valid bearer token was sent."""
    if user is None:
        raise unauthorized("sign in first: no bearer token was sent", "sign_in")
    return user


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that passes the caller through when they hold one of ``roles``, else 403.

    Use as ``Annotated[Principal, Depends(require_roles(Role.ADMIN))]``.
    """
    allowed = frozenset(Role(r) for r in roles)
    names = " or ".join(r.value for r in roles)

    def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise Refusal(
                403,
                "role_required",
                f"this needs the {names} role; you are signed in as {user.role.value}",
                params={"roles": [r.value for r in roles], "role": user.role.value},
            )
        return user

    return check


AdminUser = Annotated[Principal, Depends(require_roles(Role.ADMIN))]

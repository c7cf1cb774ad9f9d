"""Signing in and out of the pages: the log-in page, and the session cookie set from the
API's token endpoint and dropped on log-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.security import OAuth2PasswordRequestForm

from api import roster
from api.deps import EngineDep, Principal, SettingsDep
from api.roster import Role
from api.routes import auth
from web.common import SUPERVISORS, render
from web.session import COOKIE, landing, page_user, safe_next, user_of_token

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(
        request,
        "login.html",
        {"next": safe_next(request.query_params.get("next")) or ""},
        user=page_user(request),
    )


@router.post("/web/session")
def log_in(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> dict[str, str]:
    """The API's token endpoint, with the token put in the session cookie."""
    # 401 on bad credentials, 429 when throttled, as the API
    token = auth.issue_token(request, form, engine, settings)
    response.set_cookie(
        COOKIE,
        token.access_token,
        max_age=settings.token_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    user = user_of_token(token.access_token, engine, settings)
    if user is None:  # removed between issuing the token and now
        return {"redirect": "/login"}
    target = safe_next(request.query_params.get("next"))
    if target is None or not _may_open(user, target):
        target = landing(user.role)
    return {"redirect": target}


def _may_open(user: Principal, path: str) -> bool:
    needs = {
        "/board": SUPERVISORS,
        "/tasks": (Role.HANDLER,),
        "/followups": (Role.CALLER,),
        "/dispatch": (Role.DISPATCHER, *SUPERVISORS),
        "/partner": (Role.PARTNER,),
    }
    for prefix, roles in needs.items():
        if path == prefix or path.startswith(prefix + "?") or path.startswith(prefix + "/"):
            return user.role in roles
    return True


@router.post("/web/session/logout")
def log_out(request: Request, response: Response, engine: EngineDep) -> dict[str, str]:
    """Sign out as ``POST /api/v1/auth/logout`` does: the user's tokens are revoked (a copy
    of the cookie is of no use any more), then the cookie is dropped."""
    user = page_user(request)
    if user is not None:
        roster.revoke_tokens(user.id, db=engine)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return {"redirect": "/login"}

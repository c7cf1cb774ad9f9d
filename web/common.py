"""What the pages share: the templates, the frame every page is rendered in (language,
user, script strings), the sign-in and role check, the roles' groups, the CSV download, and
the small helpers several audiences' pages use.

Pages and the fragments their script reloads are rendered from the read models (the same
query functions the JSON API uses); every action a page takes goes to the JSON API
(``/api/v1``) from the page script, so the API's rules and answers are the only ones.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.bounds import date_error, refuse_date
from api.deps import Principal
from api.roster import Role
from closeloop import catalogue
from domain.review import DIMENSIONS, MAX_UNREACHED_ATTEMPTS, Answer
from notify import inbox
from web.i18n import EN, LANG_COOKIE, ZH, Translator, pick_language
from web.present import CST, Directory
from web.session import WEB_HEADER, landing, page_user

log = logging.getLogger(__name__)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

#: Everyone who signs in: a request's page shows what domain.privacy lets each see.
STAFF = (
    Role.ADMIN,
    Role.SUPERVISOR,
    Role.HANDLER,
    Role.CALLER,
    Role.DISPATCHER,
    Role.PARTNER,
)
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)

# ---- the frame ----------------------------------------------------------------------


def language(request: Request) -> str:
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def translator(request: Request) -> Translator:
    """The page's language, naming the categories as the catalogue does."""
    engine: Engine = request.app.state.engine
    return Translator(language(request), catalogue.names(db=engine))


def _switch_url(request: Request, lang: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", EN if lang == ZH else ZH))
    return f"{request.url.path}?{urlencode(params)}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    t = translator(request)
    lang = t.lang
    response = templates.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "lang": lang,
            "user": user,
            "role_label": t(f"role.{user.role.value}") if user else "",
            "home": landing(user.role) if user else "/",
            "now_iso": datetime.now(UTC).isoformat(),
            "strings": t.script_strings(),
            "switch_url": _switch_url(request, lang),
            "web_header": WEB_HEADER,
            "inbox_unread": inbox_unread(request, user),
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},  # pages show live data: never a stale copy
    )
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def inbox_unread(request: Request, user: Principal | None) -> int | None:
    """The user's unread inbox messages, for the navigation's count; None when signed out
    or when it cannot be read (the link is shown without a count)."""
    if user is None:
        return None
    try:
        return inbox.unread_count(user.username, db=request.app.state.engine)
    except SQLAlchemyError:
        log.exception("counting the unread inbox messages failed")
        return None


def fragment(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    t = translator(request)
    return templates.TemplateResponse(
        request,
        template,
        {"t": t, "lang": t.lang, **context},
        headers={"Cache-Control": "no-store"},
    )


@dataclass(frozen=True)
class Denied:
    """Why a page is not shown: not signed in (go and log in) or the wrong role."""

    response: Response


def signed_in(
    request: Request, roles: Iterable[Role], fragment: bool = False
) -> Principal | Denied:
    """The page's user when they hold one of ``roles``; else where to send them."""
    user = page_user(request)
    allowed = tuple(roles)
    if user is None:
        if fragment:
            return Denied(JSONResponse({"detail": "sign in first"}, status_code=401))
        target = urlencode(
            {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
        )
        return Denied(RedirectResponse(f"/login?{target}", status_code=status.HTTP_303_SEE_OTHER))
    if user.role not in allowed:
        t = translator(request)
        message = t(
            "error.page_role",
            roles=" / ".join(t(f"role.{r.value}") for r in allowed),
            role=t(f"role.{user.role.value}"),
        )
        if fragment:
            return Denied(JSONResponse({"detail": message}, status_code=403))
        return Denied(
            render(
                request, "error.html", {"message": message, "code": 403}, user=user, status_code=403
            )
        )
    return user


# ---- shared by several pages ---------------------------------------------------------


def intake_choices(engine: Engine, t: Translator) -> dict[str, Any]:
    directory = Directory.load(engine)
    return {
        "grid_groups": directory.grids_by_community(),
        "categories": [
            (c.code, t.category(c.code))
            for c in catalogue.list_categories(db=engine, include_retired=False)
        ],
    }


def review_context(t: Translator) -> dict[str, Any]:
    return {
        "dimensions": [(d, t.question(d)) for d in DIMENSIONS],
        "answers": [a.value for a in Answer],
        "max_attempts": MAX_UNREACHED_ATTEMPTS,
    }


def query_date(query: Any, name: str) -> date | None:
    """The date parameter ``name``: None when absent or not a date (the default period
    applies); a date outside the sane range (:mod:`api.bounds`) is refused with a 422."""
    value = query.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if date_error(day) is not None:
        raise refuse_date(name, value)
    return day


#: A text cell starting with one of these is a formula to a spreadsheet program.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a text starting like a formula (a resident may
    write ``=HYPERLINK(...)`` into a description) gets a leading apostrophe. Numbers stay
    numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(name: str, header: list[str], lines: Iterable[Iterable[Any]]) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # so that spreadsheet programs read the Chinese as UTF-8
    writer = csv.writer(out)
    writer.writerow([csv_cell(cell) for cell in header])
    writer.writerows([csv_cell(cell) for cell in line] for line in lines)
    stamp = datetime.now(CST).strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="closeloop-{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )

"""The handler's pages: the tasks at their posts (``/tasks``) and its list fragment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api import privacy
from api.deps import EngineDep, Principal, get_sealer
from api.roster import Role
from domain.privacy import Sealer
from projections import pages, queries
from web.common import Denied, fragment, intake_choices, render, signed_in, translator
from web.i18n import Translator
from web.present import Directory, row

router = APIRouter(include_in_schema=False)


def _task_rows(
    engine: Engine, user: Principal, t: Translator, sealer: Sealer
) -> list[dict[str, Any]]:
    directory = Directory.load(engine)
    posts = [(a.unit_id, a.level.value) for a in user.assignments]
    with engine.connect() as conn:
        items = privacy.visible(queries.tasks(conn, assignments=posts), user, sealer)
        starts = pages.window_starts(conn, [i["id"] for i in items])
    now = datetime.now(UTC)
    return [row(item, directory, t, starts.get(item["id"]), now) for item in items]


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.HANDLER,))
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    mine = {a.unit_id for a in user.assignments}
    choices = intake_choices(engine, t)
    # the handler's own grids first in the picker
    choices["grid_groups"] = sorted(
        choices["grid_groups"],
        key=lambda group: not any(g.id in mine or group[0].id in mine for g in group[1]),
    )
    return render(
        request,
        "tasks.html",
        {"rows": _task_rows(engine, user, t, get_sealer(request)), "my_units": mine, **choices},
        user=user,
    )


@router.get("/tasks/list", response_class=HTMLResponse)
def tasks_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.HANDLER,), fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    rows = _task_rows(engine, user, t, get_sealer(request))
    return fragment(request, "_task_list.html", {"rows": rows})

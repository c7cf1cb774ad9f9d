"""The handler's pages: the tasks at their posts (``/tasks``) and its list fragment: the
requests at their posts (with return, extension and co-handler forms), the extension asks
one level below that wait for their decision, and the requests they assist with (a level
it went up from, or as a co-handler: progress notes only)."""

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
from web.operations import RANK, with_operations
from web.present import Directory, row

router = APIRouter(include_in_schema=False)


def _task_context(engine: Engine, user: Principal, t: Translator, sealer: Sealer) -> dict[str, Any]:
    directory = Directory.load(engine)
    posts = [(a.unit_id, a.level.value) for a in user.assignments]
    with engine.connect() as conn:
        items = privacy.visible(
            queries.tasks(conn, assignments=posts, username=user.username), user, sealer
        )
        asks = privacy.visible(queries.extension_asks(conn, posts), user, sealer)
        ids = [i["id"] for i in items + asks]
        starts = pages.window_starts(conn, ids)
        ops = queries.operations_of(conn, ids)
    now = datetime.now(UTC)

    def shown(item: dict[str, Any]) -> dict[str, Any]:
        card = row(item, directory, t, starts.get(item["id"]), now)
        return with_operations(card, ops.get(item["id"]), directory, t)

    cards = [shown(item) for item in items]
    for card in cards:
        # the user's own part as a co-handler, still to do: they may mark it done
        card["my_part_open"] = any(
            c["username"] == user.username and not c.get("done") for c in card["cohandlers"]
        )
    return {
        "rows": [c for c in cards if not c.get("assisting")],
        "assisting": [c for c in cards if c.get("assisting")],
        "asks": [shown(item) for item in asks],
        # a post above the grid workers' decides the asks of the level below it
        "decides": any(RANK[a.level] > 0 for a in user.assignments),
        "me": user.username,
    }


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
        {**_task_context(engine, user, t, get_sealer(request)), "my_units": mine, **choices},
        user=user,
    )


@router.get("/tasks/list", response_class=HTMLResponse)
def tasks_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.HANDLER,), fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    context = _task_context(engine, user, t, get_sealer(request))
    return fragment(request, "_task_list.html", context)

"""The monthly report (月度报告): ``GET /reports/monthly?month=&unit_id=&format=&lang=``.

``format=xlsx`` (the default) answers the Excel file (:mod:`api.report_xlsx`);
``format=html`` sends the reader to the printable page ``/reports/monthly`` with the same
month, unit and language. Both show what :func:`api.report.gather` gathers. A month that
is not one (422 ``bad_period``) or an unknown unit (422 ``unknown_unit``) is refused
before anything is read or written.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api import report_xlsx
from api.deps import EngineDep, Principal, SettingsDep, require_roles
from api.report import gather, month_of, unit_of
from api.roster import Role
from api.routes.inbox import language
from api.text import Text
from closeloop import catalogue

router = APIRouter(tags=["assessment"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
#: Where ``format=html`` sends the reader: the printable page (web.report).
PAGE = "/reports/monthly"


@router.get("/reports/monthly", response_model=None)
async def monthly_report(
    user: Supervisor,
    engine: EngineDep,
    settings: SettingsDep,
    month: Annotated[Text | None, Query(description="the month, YYYY-MM (local)")] = None,
    unit_id: Annotated[Text | None, Query(description="a town, community or grid")] = None,
    format: Annotated[Literal["xlsx", "html"], Query()] = "xlsx",
    lang: Annotated[Text | None, Query(description="the headers' language: zh-CN or en")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """A unit's monthly report (the whole office without ``unit_id``) as an Excel file, or
    the printable page (``format=html``)."""
    span = month_of(month, settings)
    wording = language(lang, accept_language)
    if format == "html":
        unit = await run_in_threadpool(unit_of, engine, unit_id)
        query = {"month": span.label, "lang": wording}
        if unit is not None:
            query["unit_id"] = unit.id
        return RedirectResponse(f"{PAGE}?{urlencode(query)}", status_code=303)

    def build() -> tuple[bytes, tuple[str, str | None]]:
        # web.i18n is imported here: importing the web package loads its pages, which
        # import this API's modules
        from web.i18n import Translator

        unit = unit_of(engine, unit_id)
        report = gather(engine, settings, span, unit)
        words = Translator(wording, catalogue.names(db=engine))
        return report_xlsx.workbook(report, words), report_xlsx.filename(report)

    content, (name, named) = await run_in_threadpool(build)
    disposition = f'attachment; filename="{name}"'
    if named is not None:
        disposition += f"; filename*=UTF-8''{quote(named, safe='')}"
    return Response(
        content,
        media_type=report_xlsx.MEDIA_TYPE,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )

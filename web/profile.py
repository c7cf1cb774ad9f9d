"""Every staff member's own page (``/profile``): who they are, and the work phone residents
see on the contact card of the tracking page, which they set themselves
(``PATCH /api/v1/auth/me`` from the page script)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from web.common import STAFF, Denied, render, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/profile", response_class=HTMLResponse)
def profile_page(request: Request) -> Response:
    user = signed_in(request, STAFF)
    if isinstance(user, Denied):
        return user.response
    return render(request, "profile.html", {"me": user}, user=user)

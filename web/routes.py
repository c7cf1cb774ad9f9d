"""The pages, gathered in one router: each audience's pages live in their own module, so a
page's code is found by whom it serves.

- :mod:`web.common`: what the pages share (templates, the page frame, the sign-in and role
  check, the roles' groups, the CSV download, small helpers); no routes.
- :mod:`web.session_pages`: everyone: the log-in page, signing in and out (``/login``,
  ``/web/session``).
- :mod:`web.resident`: the resident: the report page (``/``) and tracking (``/track/...``).
- :mod:`web.supervisor`: supervisors and admins: the board, its fragments and CSV exports
  (``/board...``).
- :mod:`web.hotspots`: supervisors and admins: the hot spots and the month's topics
  (``/hotspots...``).
- :mod:`web.assessment`: supervisors and admins: the grid workers' assessment, and each
  worker's page (also for the worker themselves) (``/assessment...``).
- :mod:`web.rankings`: supervisors and admins: the league tables and a unit's figures
  (``/rankings...``).
- :mod:`web.report`: supervisors and admins: the monthly report's printable page
  (``/reports/monthly``).
- :mod:`web.handler`: the handler: their tasks (``/tasks...``).
- :mod:`web.my_month`: the handler: their own month (``/me/month``).
- :mod:`web.caller`: the caller: the follow-up queue (``/followups...``).
- :mod:`web.dispatcher`: dispatchers (and supervisors, admins): the queue of requests
  waiting for dispatch (``/dispatch...``).
- :mod:`web.partner`: partners: the requests they co-handle (``/partner...``).
- :mod:`web.admin`: admins: the working-day calendar of a year (``/admin/calendar...``).
- :mod:`web.admin_categories`: admins: the category catalogue (``/admin/categories...``).
- :mod:`web.admin_sms`: admins: the SMS provider, templates and a test (``/admin/sms...``).
- :mod:`web.admin_webhooks`: admins: webhook subscriptions (``/admin/webhooks...``).
- :mod:`web.admin_open311`: admins: Open311 API keys (``/admin/open311...``).
- :mod:`web.staff`: all staff: one request's page (``/requests/{request_id}...``).
- :mod:`web.profile`: all staff: their own profile and work phone (``/profile``).
- :mod:`web.inbox`: all staff: their inbox (``/inbox...``).

The routers are included in this order, which is the order their paths are matched in: a
fixed path must come before a parametric one it would also match.
"""

from __future__ import annotations

from fastapi import APIRouter

from web import (
    admin,
    admin_categories,
    admin_open311,
    admin_sms,
    admin_webhooks,
    assessment,
    caller,
    dispatcher,
    handler,
    hotspots,
    inbox,
    my_month,
    partner,
    profile,
    rankings,
    report,
    resident,
    session_pages,
    staff,
    supervisor,
)

router = APIRouter(include_in_schema=False)
router.include_router(session_pages.router)
router.include_router(resident.router)
router.include_router(supervisor.router)
router.include_router(hotspots.router)
router.include_router(assessment.router)
router.include_router(rankings.router)
router.include_router(report.router)
router.include_router(handler.router)
router.include_router(my_month.router)
router.include_router(caller.router)
router.include_router(dispatcher.router)
router.include_router(partner.router)
router.include_router(admin.router)
router.include_router(admin_categories.router)
router.include_router(admin_sms.router)
router.include_router(admin_webhooks.router)
router.include_router(admin_open311.router)
router.include_router(staff.router)
router.include_router(profile.router)
router.include_router(inbox.router)

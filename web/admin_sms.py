"""The admins' SMS page: which provider sends residents' text messages, each template's text
and gateway code (with the placeholders it may use), and a test message sent at once.

The forms send to the JSON API (``/api/v1/sms/...``), whose checks and refusals are the
only ones; the settings form is the fragment ``/admin/sms/settings``, reloaded after a
save so that it shows what is stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep, SettingsDep
from api.roster import Role
from notify import sms
from web.common import Denied, fragment, render, signed_in, translator
from web.i18n import Translator
from web.present import local

router = APIRouter(include_in_schema=False)

ADMINS = (Role.ADMIN,)


def _context(chosen: sms.SmsSettings, t: Translator) -> dict[str, Any]:
    def changed(key: str) -> str:
        found = chosen.changed.get(key)
        return t("sms.changed", who=found[0], at=local(found[1])) if found else ""

    templates = [
        {
            "name": name,
            "title": t(f"sms.template.{name}"),
            "text": chosen.templates[name],
            "code": chosen.codes[name],
            "default_code": template.code,
            "placeholders": [
                ("{" + p + "}", t(f"sms.placeholder.{p}")) for p in template.placeholders
            ],
            "changed": changed(sms.template_key(name)) or changed(sms.code_key(name)),
        }
        for name, template in sms.TEMPLATES.items()
    ]
    latest = max((at for _, at in chosen.changed.values()), default=None)
    quiet = chosen.quiet_hours
    return {
        "provider": chosen.provider,
        "providers": [
            (name, t(f"sms.provider.{name}"), t(f"sms.provider.{name}_hint"))
            for name in ("log", "http")
        ],
        "provider_changed": changed(sms.PROVIDER_KEY),
        "templates": templates,
        "max_chars": sms.MAX_TEMPLATE_CHARS,
        # a new key after each save: the reloaded form shows the stored values
        "key": f"sms-settings-{latest.timestamp() if latest else 0}",
        "gateway": (
            t("sms.gateway_set", sign=chosen.sign_name)
            if chosen.gateway_url_set
            else t("sms.gateway_unset")
        ),
        "quiet": (
            t(
                "sms.quiet",
                start=f"{quiet[0]:02d}:00",
                end=f"{quiet[1]:02d}:00",
                zone=chosen.timezone,
            )
            if quiet
            else t("sms.quiet_off")
        ),
    }


@router.get("/admin/sms", response_class=HTMLResponse)
def sms_page(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    user = signed_in(request, ADMINS)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    chosen = sms.load_settings(engine, settings)
    return render(request, "admin_sms.html", _context(chosen, t), user=user)


@router.get("/admin/sms/settings", response_class=HTMLResponse)
def sms_settings_form(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """The settings form, reloaded after a save."""
    user = signed_in(request, ADMINS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    chosen = sms.load_settings(engine, settings)
    return fragment(request, "_admin_sms_settings.html", _context(chosen, t))

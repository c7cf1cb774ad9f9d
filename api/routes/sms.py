"""The SMS settings (admins): which provider sends residents' text messages, the templates'
texts and gateway codes, and a test message sent at once (:mod:`notify.sms`)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, EngineDep, SettingsDep
from api.errors import Refusal, printable
from api.text import Text
from notify import sms

router = APIRouter(prefix="/sms", tags=["sms"])

#: A mainland China mobile number, once spaces, dashes and a +86 are taken off.
MAINLAND_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SmsSettingsIn(_Body):
    """What to set; what is left out stays as it is. ``templates`` and ``codes`` map a
    template's name (``resolved``, ``resolved_no_review``, ``test``) to its text / code."""

    provider: Text | None = None
    templates: dict[str, Text] | None = None
    codes: dict[str, Text] | None = None


class SmsTestIn(_Body):
    #: as the intake takes a resident's phone; then it must be a mainland mobile number
    phone: Text = Field(min_length=3, max_length=32, pattern=r"^[0-9+\-() ]+$")


def _refusal(error: sms.SmsSettingError) -> Refusal:
    # a template's name is the client's dict key: sent back escaped (api.errors.printable)
    field = printable(error.field)
    return Refusal(422, error.code, str(error), field=field, params=printable(error.params))


@router.get("/settings")
def get_settings(admin: AdminUser, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """The provider in force, each template's text, code and placeholders, whether a
    gateway is configured (never its key or secret), and the quiet hours."""
    return sms.load_settings(engine, settings).json()


@router.put("/settings")
def put_settings(
    body: SmsSettingsIn, admin: AdminUser, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    """Set the provider, templates and codes given; a refusal (422 with ``code`` and
    ``field``) writes nothing."""
    try:
        saved = sms.save_settings(
            engine,
            settings,
            by=admin.username,
            provider=body.provider,
            templates=body.templates,
            codes=body.codes,
        )
    except sms.SmsSettingError as error:
        raise _refusal(error) from None
    return saved.json()


@router.post("/test")
def send_test(
    body: SmsTestIn, admin: AdminUser, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    """Send the ``test`` template to ``phone`` now, through the provider in force (quiet
    hours do not apply); ``ok`` says whether it went, ``status`` is the gateway's HTTP
    status, ``error`` why not."""
    if not MAINLAND_MOBILE.match(sms.gateway_phone(body.phone)):
        raise Refusal(
            422,
            "sms_phone_invalid",
            "a test goes to a mainland mobile number: 11 digits starting with 13 to 19",
            field="phone",
        )
    outcome = sms.send_test(body.phone, engine=engine, settings=settings)
    provider = sms.load_settings(engine, settings).provider
    return {
        "ok": outcome.ok,
        "status": outcome.status,
        "error": outcome.error,
        "provider": provider,
    }

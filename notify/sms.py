"""Text messages (SMS) to residents: templates, the providers that send them, and the
outbox channel that reads the resident's phone only at the moment it sends.

Templates
    Each message the channel sends is one of :data:`TEMPLATES`: ``resolved`` (the request
    was handled: the tracking link, the self-review link and until when),
    ``resolved_no_review`` (handled, when the resident is not offered a self-review: the
    tracking link only) and ``test`` (the admin's test message). Each has a zh-CN text
    with ``{placeholder}`` fields and a gateway template code: Chinese gateways (Aliyun,
    Tencent Cloud) keep the approved text themselves and take the code and the
    placeholders' values. An admin edits texts and codes (``PUT /api/v1/sms/settings``);
    what they set is kept in ``notify_settings`` and wins over the defaults here.

Providers
    ``log`` (:class:`LogProvider`) appends each message to ``<data>/sms/sms.log``, one JSON
    line with the phone masked; ``http`` (:class:`HttpProvider`) posts it to a gateway in
    the template-code shape (see its docstring). The admin's choice wins over
    ``CLOSELOOP_SMS_PROVIDER``.

The channel (:class:`SmsChannel`)
    Holds messages in quiet hours (:func:`domain.quiet.quiet_until`), then opens the
    request's sealed contact from its read row, renders the template and sends it. The
    phone is never logged, never written in clear, never in an outcome's error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import string
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from api.ledger import tracking_tokens
from closeloop.files import private_dir, private_file
from closeloop.settings import SMS_PROVIDERS, Settings
from domain.privacy import Sealer, mask_phone, open_contact
from domain.quiet import quiet_until
from notify.outbox import Message, Outcome
from notify.tables import SMS, notify_settings
from projections.tables import requests as request_rows

log = logging.getLogger("closeloop.notify.sms")

# ---- templates ---------------------------------------------------------------------------

#: The outbox kinds this channel sends (the notifier writes ``resolved``).
RESOLVED = "resolved"
TEST = "test"
KINDS = (RESOLVED, TEST)
#: ``resolved`` when the resident is not offered a self-review (or its window passed).
RESOLVED_NO_REVIEW = "resolved_no_review"

#: The longest template text an admin may set (a long SMS is sent in several parts).
MAX_TEMPLATE_CHARS = 500
#: What a gateway template code may look like (Aliyun: SMS_123456789; Tencent: digits).
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class Template:
    """A template's defaults and the placeholders it may use."""

    name: str
    text: str
    code: str
    placeholders: tuple[str, ...]


#: Every template by name, in the order the admin page shows them.
TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            RESOLVED,
            "您反映的诉求已办理完毕，办理情况请查看：{tracking_link} 。"
            "请在{review_until}前评价办理结果：{review_link}",
            "SMS_RESOLVED",
            ("tracking_link", "review_link", "review_until"),
        ),
        Template(
            RESOLVED_NO_REVIEW,
            "您反映的诉求已办理完毕，办理情况请查看：{tracking_link} 。"
            "工作人员将回访听取您的意见。",
            "SMS_RESOLVED_NO_REVIEW",
            ("tracking_link",),
        ),
        Template(
            TEST,
            "这是一条测试短信（{sent_at}）：收到即说明短信通道工作正常。",
            "SMS_TEST",
            ("sent_at",),
        ),
    )
}

#: ``notify_settings`` keys.
PROVIDER_KEY = "sms.provider"


def template_key(name: str) -> str:
    return f"sms.template.{name}"


def code_key(name: str) -> str:
    return f"sms.template_code.{name}"


class SmsSettingError(ValueError):
    """An SMS setting an admin may not set; ``code`` and ``field`` as the API answers."""

    def __init__(
        self, code: str, detail: str, field: str, params: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.field = field
        self.params = params or {}


def check_template(name: str, text: str) -> str:
    """``text`` as template ``name`` keeps it (surrounding spaces dropped); else
    :class:`SmsSettingError` (``sms_template_empty``, ``sms_template_too_long``,
    ``sms_template_placeholder``: an unknown placeholder, or a brace left open)."""
    template = TEMPLATES[name]
    where = f"templates.{name}"
    text = text.strip()
    if not text:
        raise SmsSettingError("sms_template_empty", "a template must say something", where)
    if len(text) > MAX_TEMPLATE_CHARS:
        raise SmsSettingError(
            "sms_template_too_long",
            f"a template holds at most {MAX_TEMPLATE_CHARS} characters, not {len(text)}",
            where,
            {"max": MAX_TEMPLATE_CHARS, "length": len(text)},
        )
    allowed = list(template.placeholders)
    shown = ", ".join("{" + p + "}" for p in allowed)
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        raise SmsSettingError(
            "sms_template_placeholder",
            f"a brace is left open; write {{{{ and }}}} for a brace itself; this template "
            f"may use {shown}",
            where,
            {"placeholder": "{", "allowed": allowed},
        ) from None
    for _, name_used, spec, conversion in parts:
        if name_used is None:
            continue
        if name_used not in template.placeholders or spec or conversion:
            used = "{" + name_used + (f"!{conversion}" if conversion else "")
            used += (f":{spec}" if spec else "") + "}"
            raise SmsSettingError(
                "sms_template_placeholder",
                f"unknown placeholder {used[:60]}; this template may use {shown}",
                where,
                {"placeholder": used[:60], "allowed": allowed},
            )
    return text


def check_code(name: str, code: str) -> str:
    """A gateway template code as kept; else ``sms_template_code_invalid``."""
    code = code.strip()
    if not CODE_PATTERN.match(code):
        raise SmsSettingError(
            "sms_template_code_invalid",
            "a template code is 1 to 64 letters, digits, '_', '.' or '-', such as SMS_123456",
            f"codes.{name}",
        )
    return code


def render(template: str, params: Mapping[str, str]) -> str:
    """A checked template with its placeholders filled."""
    return template.format_map(dict(params))


def text_of(templates: Mapping[str, str], name: str, params: Mapping[str, str]) -> str:
    """Template ``name`` as set, filled; the default when the set one cannot be filled
    (set before its placeholders changed)."""
    try:
        return render(templates[name], params)
    except (KeyError, IndexError, ValueError, AttributeError):
        return render(TEMPLATES[name].text, params)


# ---- the settings an admin edits -----------------------------------------------------


@dataclass(frozen=True)
class SmsSettings:
    """The SMS settings in force: the admin's where they set them, else the defaults."""

    provider: str
    templates: dict[str, str]
    codes: dict[str, str]
    #: notify_settings key -> (who set it, when)
    changed: dict[str, tuple[str, datetime]]
    gateway_url_set: bool
    gateway_key_set: bool
    gateway_secret_set: bool
    sign_name: str
    quiet_hours: tuple[int, int] | None
    timezone: str

    def json(self) -> dict[str, Any]:
        """As ``GET /api/v1/sms/settings`` answers (never a secret)."""

        def who(key: str) -> dict[str, str] | None:
            found = self.changed.get(key)
            return {"by": found[0], "at": found[1].isoformat()} if found else None

        return {
            "provider": self.provider,
            "providers": list(SMS_PROVIDERS),
            "provider_set": who(PROVIDER_KEY),
            "templates": {
                name: {
                    "text": self.templates[name],
                    "code": self.codes[name],
                    "placeholders": list(TEMPLATES[name].placeholders),
                    "default_text": TEMPLATES[name].text,
                    "default_code": TEMPLATES[name].code,
                    "text_set": who(template_key(name)),
                    "code_set": who(code_key(name)),
                }
                for name in TEMPLATES
            },
            "gateway": {
                "url_set": self.gateway_url_set,
                "key_set": self.gateway_key_set,
                "secret_set": self.gateway_secret_set,
                "sign_name": self.sign_name,
            },
            "quiet_hours": (
                {"from": self.quiet_hours[0], "to": self.quiet_hours[1]}
                if self.quiet_hours
                else None
            ),
            "timezone": self.timezone,
        }


def _stored(conn: Connection) -> dict[str, tuple[str, str, datetime]]:
    rows = conn.execute(select(notify_settings).where(notify_settings.c.key.like("sms.%"))).all()
    return {r.key: (r.value, r.set_by, r.set_at) for r in rows}


def load_settings(engine: Engine, settings: Settings) -> SmsSettings:
    """What is in force now (read from the database every time: every process agrees)."""
    with engine.connect() as conn:
        stored = _stored(conn)

    def value(key: str, default: str) -> str:
        found = stored.get(key)
        return found[0] if found else default

    provider = value(PROVIDER_KEY, settings.sms_provider)
    if provider not in SMS_PROVIDERS:
        provider = settings.sms_provider
    return SmsSettings(
        provider=provider,
        templates={n: value(template_key(n), t.text) for n, t in TEMPLATES.items()},
        codes={n: value(code_key(n), t.code) for n, t in TEMPLATES.items()},
        changed={key: (by, at) for key, (_, by, at) in stored.items()},
        gateway_url_set=settings.sms_gateway_url is not None,
        gateway_key_set=settings.sms_gateway_key is not None,
        gateway_secret_set=settings.sms_gateway_secret is not None,
        sign_name=settings.sms_sign_name,
        quiet_hours=settings.sms_quiet_hours,
        timezone=settings.timezone,
    )


def save_settings(
    engine: Engine,
    settings: Settings,
    *,
    by: str,
    provider: str | None = None,
    templates: Mapping[str, str] | None = None,
    codes: Mapping[str, str] | None = None,
) -> SmsSettings:
    """Set what is given (all of it, or nothing: every value is checked first); a value
    the same as the one in force is left as it is.

    Refused (:class:`SmsSettingError`): an unknown provider (``sms_provider_unknown``),
    ``http`` without ``CLOSELOOP_SMS_GATEWAY_URL`` (``sms_gateway_missing``), a template
    or code that :func:`check_template` / :func:`check_code` refuses, or an unknown
    template name (``sms_template_unknown``)."""
    values: dict[str, str] = {}
    if provider is not None:
        if provider not in SMS_PROVIDERS:
            raise SmsSettingError(
                "sms_provider_unknown",
                f"the provider is one of {', '.join(SMS_PROVIDERS)}",
                "provider",
                {"providers": list(SMS_PROVIDERS)},
            )
        if provider == "http" and settings.sms_gateway_url is None:
            raise SmsSettingError(
                "sms_gateway_missing",
                "the http provider needs CLOSELOOP_SMS_GATEWAY_URL set where closeloop runs",
                "provider",
            )
        values[PROVIDER_KEY] = provider
    for kind, given, check, key_of in (
        ("templates", templates, check_template, template_key),
        ("codes", codes, check_code, code_key),
    ):
        for name, text in (given or {}).items():
            if name not in TEMPLATES:
                raise SmsSettingError(
                    "sms_template_unknown",
                    f"no template is named {name[:40]!r}; the templates: {', '.join(TEMPLATES)}",
                    f"{kind}.{name[:40]}",
                    {"templates": list(TEMPLATES)},
                )
            values[key_of(name)] = check(name, text)
    # what is in force already is not written again (a form sends every field): only what
    # an admin changed is theirs, the rest follows the defaults
    current = load_settings(engine, settings)
    in_force = {
        PROVIDER_KEY: current.provider,
        **{template_key(n): current.templates[n] for n in TEMPLATES},
        **{code_key(n): current.codes[n] for n in TEMPLATES},
    }
    values = {k: v for k, v in values.items() if in_force.get(k) != v}
    if values:
        now = datetime.now(UTC)
        with engine.begin() as conn:
            rows = [{"key": k, "value": v, "set_by": by, "set_at": now} for k, v in values.items()]
            conn.execute(_upsert(conn.dialect.name), rows)
    return load_settings(engine, settings)


def _upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE: the last admin's value wins."""
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(notify_settings)
    elif dialect == "sqlite":
        statement = sqlite.insert(notify_settings)
    else:
        raise NotImplementedError(f"notify settings on {dialect}")
    return statement.on_conflict_do_update(
        index_elements=[notify_settings.c.key],
        set_={c: statement.excluded[c] for c in ("value", "set_by", "set_at")},
    )


# ---- providers ---------------------------------------------------------------------------


class SmsProvider(Protocol):
    """Sends one text message; says how it went (never raises for a gateway's failure)."""

    name: str

    def send(
        self, phone: str, text: str, template_code: str, params: Mapping[str, str], key: str
    ) -> Outcome: ...


def gateway_phone(phone: str) -> str:
    """The number as gateways take it: digits only, a mainland number without +86."""
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) == 13 and digits.startswith("861"):
        return digits[2:]
    return digits


def _scrub(text: str, phone: str) -> str:
    """``text`` with the phone's digits masked, should a gateway have echoed them."""
    digits = gateway_phone(phone)
    if len(digits) >= 7 and digits in text:
        text = text.replace(digits, mask_phone(digits))
    return text


#: One writer at a time per log file (messages are delivered from several threads).
_LOG_LOCK = threading.Lock()

#: The log provider's file, inside the data folder.
LOG_FOLDER = "sms"
LOG_FILE = "sms.log"


class LogProvider:
    """Writes each message to ``<data>/sms/sms.log`` instead of sending it: one JSON line
    with the time, the message's key, the phone MASKED (``138****5678``), the template
    code, its parameters and the text. The folder is 0700, the file 0600."""

    name = "log"

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / LOG_FOLDER
        self.path = self.folder / LOG_FILE

    def send(
        self, phone: str, text: str, template_code: str, params: Mapping[str, str], key: str
    ) -> Outcome:
        line = {
            "at": datetime.now(UTC).isoformat(),
            "key": key,
            "phone": mask_phone(gateway_phone(phone)),
            "template_code": template_code,
            "params": dict(params),
            "text": _scrub(text, phone),
        }
        try:
            with _LOG_LOCK:
                private_dir(self.folder)
                private_file(self.path)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as error:
            return Outcome.failed(f"the SMS log cannot be written: {error.strerror}")
        return Outcome.sent()


#: Headers of the http provider's request.
KEY_HEADER = "X-Closeloop-Key"
SIGNATURE_HEADER = "X-Closeloop-Signature"


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body with the secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HttpProvider:
    """Posts each message to an SMS gateway, in the template-code shape of Chinese gateways:

    ``POST <url>`` with the JSON body ``{"PhoneNumbers": "13812345678", "SignName": ...,
    "TemplateCode": "SMS_RESOLVED", "TemplateParam": "<the parameters as a JSON text>",
    "OutId": "<the message's key: the same on every attempt>"}`` and the headers
    ``X-Closeloop-Key: <CLOSELOOP_SMS_GATEWAY_KEY>`` and ``X-Closeloop-Signature:
    sha256=<hex HMAC-SHA256 of the body with CLOSELOOP_SMS_GATEWAY_SECRET>`` (each left out
    when not set). Redirects are not followed.

    Sent: a 2xx answer whose JSON ``Code`` is ``OK``, or that has no ``Code``. Anything
    else fails (tried again by the sender), with the status or the gateway's code.
    """

    name = "http"

    def __init__(
        self,
        url: str,
        key: str | None,
        secret: str | None,
        sign_name: str,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.key = key
        self.secret = secret
        self.sign_name = sign_name
        self.timeout = timeout

    def body(self, phone: str, template_code: str, params: Mapping[str, str], key: str) -> bytes:
        payload = {
            "PhoneNumbers": gateway_phone(phone),
            "SignName": self.sign_name,
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False, sort_keys=True),
            "OutId": key,
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def send(
        self, phone: str, text: str, template_code: str, params: Mapping[str, str], key: str
    ) -> Outcome:
        body = self.body(phone, template_code, params, key)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.key:
            headers[KEY_HEADER] = self.key
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                answer = client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome.failed("the SMS gateway did not answer in time")
        except httpx.HTTPError as error:
            return Outcome.failed(f"the SMS gateway cannot be reached ({type(error).__name__})")
        status = answer.status_code
        if not 200 <= status < 300:
            return Outcome.failed(f"the SMS gateway answered {status}", status)
        try:
            reply = answer.json()
        except ValueError:
            reply = None
        code = reply.get("Code") if isinstance(reply, dict) else None
        if code is not None and code != "OK":
            shown = _scrub(str(code), phone)[:100]
            return Outcome.failed(f"the SMS gateway refused it: {shown}", status)
        return Outcome.sent(status)


def provider_named(name: str, settings: Settings) -> SmsProvider:
    """The provider ``name`` configured from the settings."""
    if name == "http":
        if settings.sms_gateway_url is None:
            return _Unconfigured()
        return HttpProvider(
            settings.sms_gateway_url,
            settings.sms_gateway_key,
            settings.sms_gateway_secret,
            settings.sms_sign_name,
            settings.delivery_timeout_seconds,
        )
    return LogProvider(settings.data_dir)


class _Unconfigured:
    """The http provider chosen while no gateway URL is set: every attempt fails."""

    name = "http"

    def send(
        self, phone: str, text: str, template_code: str, params: Mapping[str, str], key: str
    ) -> Outcome:
        return Outcome.failed("no SMS gateway is set (CLOSELOOP_SMS_GATEWAY_URL)")


# ---- links -------------------------------------------------------------------------------


def tracking_token(conn: Connection, sealer: Sealer, request_id: str) -> str | None:
    """The token of the request's tracking link: its sealed copy opened; a request filed
    before tokens existed is followed by its id (a UUID); None when neither."""
    sealed = conn.execute(
        select(tracking_tokens.c.token_sealed).where(tracking_tokens.c.request_id == request_id)
    ).scalar()
    if sealed is not None:
        return sealer.open_text(str(sealed))
    try:
        return str(uuid.UUID(request_id))
    except ValueError:
        return None


def tracking_link(settings: Settings, token: str) -> str:
    return f"{settings.links_base}/track/{token}"


def review_link(settings: Settings, token: str) -> str:
    return f"{tracking_link(settings, token)}#review"


def local_time(at: datetime, zone: str) -> str:
    """``3月6日 14:00``: a moment as a resident reads it, in the local zone."""
    local = at.astimezone(ZoneInfo(zone))
    return f"{local.month}月{local.day}日 {local:%H:%M}"


# ---- the channel ------------------------------------------------------------------------


@dataclass
class SmsChannel:
    """The outbox's ``sms`` channel (:class:`notify.outbox.Channel`)."""

    engine: Engine
    sealer: Sealer
    settings: Settings
    name: str = field(default=SMS, init=False)

    def hold_until(self, now: datetime) -> datetime | None:
        return quiet_until(now, self.settings.sms_quiet_hours, self.settings.timezone)

    def deliver(self, message: Message) -> Outcome:
        try:
            return self._deliver(message)
        except Exception as error:  # noqa: BLE001 - told in the outcome, never raised
            # the error's type only: a message could hold what it was working on
            log.warning("sms %s failed: %s", message.key, type(error).__name__)
            return Outcome.failed(f"the SMS could not be prepared ({type(error).__name__})")

    def _deliver(self, message: Message) -> Outcome:
        if message.kind not in KINDS:
            return Outcome.give_up(f"no SMS template for messages of kind {message.kind}")
        if message.request_id is None:
            return Outcome.give_up("the message names no request")
        with self.engine.connect() as conn:
            row = conn.execute(
                select(request_rows.c.resident_sealed).where(
                    request_rows.c.id == message.request_id
                )
            ).first()
            if row is None:
                return Outcome.failed("request not projected yet")
            token = tracking_token(conn, self.sealer, message.request_id)
        if token is None:
            return Outcome.give_up("the request has no tracking link")
        phone = ""
        if row.resident_sealed:
            phone = open_contact(self.sealer, str(row.resident_sealed))["phone"].strip()
        if not any(c.isdigit() for c in phone):
            return Outcome.give_up("the request has no phone number")
        if message.kind == TEST:
            name, params = TEST, _test_params(self.settings)
        else:
            name, params = self._resolved(message, token)
        chosen = load_settings(self.engine, self.settings)
        text = text_of(chosen.templates, name, params)
        provider = provider_named(chosen.provider, self.settings)
        outcome = provider.send(phone, text, chosen.codes[name], params, message.key)
        log.info(
            "sms %s (%s via %s): %s",
            message.key,
            name,
            provider.name,
            "sent" if outcome.ok else outcome.error,
        )
        return outcome

    def _resolved(self, message: Message, token: str) -> tuple[str, dict[str, str]]:
        """The template and parameters of a ``resolved`` message: with the self-review link
        while the window is open, else without it."""
        links = {"tracking_link": tracking_link(self.settings, token)}
        until = _moment(message.body.get("review_until"))
        if until is None or until <= datetime.now(UTC):
            return RESOLVED_NO_REVIEW, links
        return RESOLVED, {
            **links,
            "review_link": review_link(self.settings, token),
            "review_until": local_time(until, self.settings.timezone),
        }


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _test_params(settings: Settings, now: datetime | None = None) -> dict[str, str]:
    return {"sent_at": local_time(now or datetime.now(UTC), settings.timezone)}


def send_test(
    phone: str,
    *,
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
) -> Outcome:
    """Send the ``test`` template to ``phone`` at once through the chosen provider (not
    through the outbox; quiet hours do not hold a test an admin asks for)."""
    chosen = load_settings(engine, settings)
    params = _test_params(settings, now)
    text = text_of(chosen.templates, TEST, params)
    provider = provider_named(chosen.provider, settings)
    key = f"test:{uuid.uuid4().hex}"
    try:
        outcome = provider.send(phone, text, chosen.codes[TEST], params, key)
    except Exception as error:  # noqa: BLE001 - told in the outcome
        outcome = Outcome.failed(f"the test SMS failed ({type(error).__name__})")
    said = "sent" if outcome.ok else outcome.error
    log.info("sms %s (test via %s): %s", key, provider.name, said)
    return outcome

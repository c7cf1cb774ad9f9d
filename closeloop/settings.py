"""One settings object, read from ``CLOSELOOP_*`` environment variables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.duplicates import DEFAULT_DAYS, DEFAULT_DISTANCE_M, MAX_DAYS, MAX_DISTANCE_M
from domain.workdays import DEFAULT_RULES_TEXT, parse_rules


class SettingsError(ValueError):
    """An environment variable holds a value closeloop cannot use."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _count(name: str, default: int) -> int:
    value = _int(name, default)
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0, got {raw!r}")


def _share(name: str, default: float) -> float | None:
    """A share of a tier's time, above 0 and below 1; ``0`` or ``off`` turns it off."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "off"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0 < value < 1:
        raise SettingsError(f"{name} must be between 0 and 1 (0 turns it off), got {raw!r}")
    return value


def _at_least_zero(name: str, default: int) -> int:
    value = _int(name, default)
    if value < 0:
        raise SettingsError(f"{name} must be 0 or more, got {value}")
    return value


def _tier_rules() -> str:
    """``CLOSELOOP_TIER_RULES``, checked (domain.workdays.parse_rules reads it)."""
    raw = os.environ.get("CLOSELOOP_TIER_RULES", "").strip()
    if not raw:
        return DEFAULT_RULES_TEXT
    try:
        parse_rules(raw)
    except ValueError as error:
        raise SettingsError(f"CLOSELOOP_TIER_RULES: {error}") from None
    return raw


#: The local time zone of deadlines by default.
DEFAULT_TIMEZONE = "Asia/Shanghai"


def _timezone() -> str:
    """``CLOSELOOP_TIMEZONE``: an IANA zone name (zoneinfo), e.g. Asia/Shanghai."""
    raw = os.environ.get("CLOSELOOP_TIMEZONE", "").strip()
    if not raw:
        return DEFAULT_TIMEZONE
    # only names of the zone database: ZoneInfo would also open a file path
    if raw not in available_timezones():
        raise SettingsError(
            f"CLOSELOOP_TIMEZONE must be a time zone name such as Asia/Shanghai, got {raw!r}"
        )
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"CLOSELOOP_TIMEZONE names no known time zone: {raw!r}") from None
    return raw


#: The values ``CLOSELOOP_ENV`` may take.
ENVIRONMENTS = ("development", "production")


def _environment() -> str:
    raw = os.environ.get("CLOSELOOP_ENV", "").strip().lower() or "development"
    if raw not in ENVIRONMENTS:
        raise SettingsError(f"CLOSELOOP_ENV must be development or production, got {raw!r}")
    return raw


def _optional_flag(name: str) -> bool | None:
    """A flag that may be left unset, so that each command picks its own default."""
    if not os.environ.get(name, "").strip():
        return None
    return _flag(name, False)


def _public_url() -> str | None:
    raw = os.environ.get("CLOSELOOP_PUBLIC_URL", "").strip().rstrip("/")
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(
            f"CLOSELOOP_PUBLIC_URL must start with http:// or https://, got {raw!r}"
        )
    return raw


def _map_tiles() -> str | None:
    """The map's tile URL template (``https://tile.example/{z}/{x}/{y}.png``), or None."""
    raw = os.environ.get("CLOSELOOP_MAP_TILES", "").strip()
    if not raw:
        return None
    try:
        tile_origin(raw)
    except ValueError as error:
        raise SettingsError(f"CLOSELOOP_MAP_TILES: {error}") from None
    return raw


def tile_origin(template: str) -> str:
    """The origin a tile URL template loads from, as a Content-Security-Policy source:
    ``https://{s}.tile.example/{z}/{x}/{y}.png`` -> ``https://*.tile.example``.

    Raises ValueError when the template is not an http(s) URL with ``{z}``, ``{x}`` and
    ``{y}``, or its host holds anything but letters, digits, dots, dashes and ``{s}``."""
    match = _TILE_URL.match(template)
    if match is None:
        raise ValueError(f"must be an http:// or https:// URL of a tile server, got {template!r}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in template]
    if missing:
        raise ValueError(f"must hold {', '.join(missing)}, got {template!r}")
    scheme, host, port = match.group("scheme"), match.group("host"), match.group("port") or ""
    host = host.replace("{s}", "*")
    if "*" in host[1:] or ("*" in host and not host.startswith("*.")):
        raise ValueError(f"may hold {{s}} only as the host's first label, got {template!r}")
    return f"{scheme}://{host}{port}"


_TILE_URL = re.compile(
    r"^(?P<scheme>https?)://(?P<host>(?:\{s\}|[A-Za-z0-9-])(?:[A-Za-z0-9.-]|\{s\})*)"
    r"(?P<port>:[0-9]{1,5})?(?:/[^\s'\";]*)?$"
)


SMS_PROVIDERS = ("log", "http")


def _sms_provider() -> str:
    raw = os.environ.get("CLOSELOOP_SMS_PROVIDER", "").strip().lower() or "log"
    if raw not in SMS_PROVIDERS:
        raise SettingsError(f"CLOSELOOP_SMS_PROVIDER must be log or http, got {raw!r}")
    return raw


def parse_quiet_hours(raw: str) -> tuple[int, int] | None:
    """``22-8`` (from 22:00 to 08:00 local time), or ``off``; ValueError when malformed."""
    text = raw.strip().lower()
    if text in ("off", "0", "none"):
        return None
    start, sep, end = text.partition("-")
    try:
        hours = (int(start), int(end))
    except ValueError:
        hours = (-1, -1)
    if not sep or not all(0 <= h <= 23 for h in hours) or hours[0] == hours[1]:
        raise ValueError(
            f"quiet hours are two hours from 0 to 23 such as 22-8, or off; got {raw!r}"
        )
    return hours


def _quiet_hours() -> tuple[int, int] | None:
    raw = os.environ.get("CLOSELOOP_SMS_QUIET_HOURS", "").strip()
    if not raw:
        return (22, 8)
    try:
        return parse_quiet_hours(raw)
    except ValueError as error:
        raise SettingsError(f"CLOSELOOP_SMS_QUIET_HOURS: {error}") from None


DEFAULT_RATE_FLOOR = 0.9


def _response_hours() -> float:
    """``CLOSELOOP_RESPONSE_HOURS``: hours, more than 0 (default 2)."""
    value = _hours("CLOSELOOP_RESPONSE_HOURS", 2.0)
    if value <= 0:
        raise SettingsError("CLOSELOOP_RESPONSE_HOURS must be more than 0 hours")
    return value


def _rate_floors() -> tuple[tuple[str, float], ...]:
    """``CLOSELOOP_RATE_FLOORS``: ``rate=percent`` pairs, comma-separated, e.g.
    ``response_rate=95,satisfaction_rate=85``; a rate left out keeps 90."""
    from domain.performance import RATES

    raw = os.environ.get("CLOSELOOP_RATE_FLOORS", "").strip()
    floors: list[tuple[str, float]] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in RATES:
            raise SettingsError(
                f"CLOSELOOP_RATE_FLOORS: {item!r} is not rate=percent with a rate among "
                + ", ".join(RATES)
            )
        try:
            percent = float(value)
        except ValueError:
            raise SettingsError(f"CLOSELOOP_RATE_FLOORS: {value!r} is not a number") from None
        if not 0 <= percent <= 100:
            raise SettingsError(f"CLOSELOOP_RATE_FLOORS: {name} must be 0 to 100, got {value}")
        floors.append((name, percent / 100))
    return tuple(floors)


def _hours(name: str, default: float) -> float:
    """Hours, 0 or more (0 turns the feature off)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of hours, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must be 0 or more, got {raw!r}")
    return value


def _media_backend() -> str:
    raw = os.environ.get("CLOSELOOP_MEDIA_BACKEND", "").strip().lower() or "local"
    if raw not in ("local", "s3"):
        raise SettingsError(f"CLOSELOOP_MEDIA_BACKEND must be local or s3, got {raw!r}")
    if raw == "s3" and not os.environ.get("CLOSELOOP_MEDIA_BUCKET", "").strip():
        raise SettingsError("CLOSELOOP_MEDIA_BACKEND=s3 needs CLOSELOOP_MEDIA_BUCKET")
    return raw


def _duplicate_distance() -> float:
    """Metres within which two requests of a category are likely duplicates."""
    name = "CLOSELOOP_DUPLICATE_DISTANCE_M"
    raw = os.environ.get(name, "").strip()
    if not raw:
        return DEFAULT_DISTANCE_M
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of metres, got {raw!r}") from None
    if not 0 < value <= MAX_DISTANCE_M:  # also refuses nan and inf
        raise SettingsError(
            f"{name} must be above 0 and at most {MAX_DISTANCE_M:g} metres, got {raw!r}"
        )
    return value


def _duplicate_days() -> int:
    """Days apart within which two requests may be duplicates."""
    name = "CLOSELOOP_DUPLICATE_DAYS"
    value = _int(name, DEFAULT_DAYS)
    if not 1 <= value <= MAX_DAYS:
        raise SettingsError(f"{name} must be 1 to {MAX_DAYS} days, got {value}")
    return value


def _path_or_none(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw).resolve() if raw else None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    api_host: str
    api_port: int
    temporal_address: str | None  # an existing server; None starts the embedded dev server
    temporal_port: int
    temporal_ui_port: int
    task_queue: str
    namespace: str
    day_seconds: float
    admin_password: str | None
    seed_demo: bool | None  # None: unset (``closeloop dev`` seeds, ``bootstrap`` does not)
    jwt_secret: str | None
    token_minutes: int
    poll_seconds: float
    #: Anonymous filings per client address a minute, and per phone number an hour.
    intake_per_address: int = 10
    intake_per_phone: int = 5
    #: Open311 GeoReport filings per API key a minute (``CLOSELOOP_OPEN311_RATE``).
    open311_rate: int = 30
    #: base64 of the 32-byte key that seals residents' data; None: ``<data>/encryption.key``
    encryption_key: str | None = None
    #: earlier keys, still accepted for reading after a rotation
    old_encryption_keys: tuple[str, ...] = ()
    #: ``CLOSELOOP_ENV=production``: secrets must come from the environment, and be real
    production: bool = False
    # Log-in throttling (api.throttle): failures per account and per client address within
    # the window lock that key, for lock seconds doubling with each further lock.
    login_account_limit: int = 5
    login_address_limit: int = 20
    login_window_minutes: int = 15
    login_lock_seconds: int = 60
    login_max_lock_minutes: int = 60
    #: Addresses of reverse proxies whose X-Forwarded-For names the client; None: no proxy.
    trusted_proxies: str | None = None
    max_body_bytes: int = 64 * 1024
    behind_tls: bool = False
    #: share of a tier's time after which an open request is warned (预警); None: never
    warn_share: float | None = 0.75
    #: approved extensions (延期) per tier
    max_extensions: int = 1
    #: Each tier's time limit, as ``CLOSELOOP_TIER_RULES`` spells it (domain.workdays).
    tier_rules: str = DEFAULT_RULES_TEXT
    #: The zone whose days, months and working days deadlines count (a zoneinfo name).
    timezone: str = DEFAULT_TIMEZONE
    # ---- notifications (notify/) ----
    #: The address residents' links point at (SMS); None: the API's own address.
    public_url: str | None = None
    #: How SMS reach residents unless an admin chose otherwise: ``log`` or ``http``.
    sms_provider: str = "log"
    #: The ``http`` provider's gateway and its credentials (notify.sms).
    sms_gateway_url: str | None = None
    sms_gateway_key: str | None = None
    sms_gateway_secret: str | None = None
    sms_sign_name: str = "closeloop"
    #: Local hours without SMS to residents: (from, to), e.g. (22, 8); None: no quiet hours.
    sms_quiet_hours: tuple[int, int] | None = (22, 8)
    #: Hours after resolution in which the resident may review it themselves; 0: never.
    self_review_hours: float = 72.0
    response_hours: float = 2.0  # the response window of the assessment (响应率)
    rate_floors: tuple[tuple[str, float], ...] = ()  # league tables' floors beside 0.9
    #: The first pause before a failed delivery is tried again (doubling up to the max).
    delivery_retry_seconds: float = 30.0
    delivery_max_retry_seconds: float = 3600.0
    #: A message not delivered this long after it was written is given up (``dead``).
    delivery_give_up_hours: float = 24.0
    delivery_timeout_seconds: float = 10.0
    #: Webhooks may point at loopback and private addresses (tests, an internal network).
    webhook_allow_private: bool = False
    #: ``closeloop dev`` runs the notifier and the sender.
    notify: bool = True
    # ---- photos (closeloop.media) ----
    #: Where photos are kept: ``local`` (a folder) or ``s3`` (an S3-compatible service).
    media_backend: str = "local"
    #: The ``local`` backend's folder; None: ``media`` in the data directory.
    media_dir: Path | None = None
    #: The ``s3`` backend: its endpoint (None: the provider's default), bucket, region, keys.
    media_endpoint: str | None = None
    media_bucket: str | None = None
    media_region: str | None = None
    media_access_key: str | None = None
    media_secret_key: str | None = None
    # ---- the board's map ----
    #: The tile URL template (``{z}``, ``{x}``, ``{y}``, optionally ``{s}``); None: no tiles,
    #: the map draws its own grid outline.
    map_tiles: str | None = None
    #: The tiles' attribution shown on the map (plain text); None: none.
    map_attribution: str | None = None
    # ---- likely duplicates (domain.duplicates) ----
    #: Same category within this many metres: a likely duplicate.
    duplicate_distance_m: float = DEFAULT_DISTANCE_M
    #: Only requests filed within this many days of each other (either side).
    duplicate_days: int = DEFAULT_DAYS

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("CLOSELOOP_DATA_DIR", "data")).resolve()
        url = os.environ.get("CLOSELOOP_DATABASE_URL", "").strip()
        if not url:
            url = f"sqlite:///{data_dir / 'closeloop.db'}"
        return cls(
            data_dir=data_dir,
            database_url=url,
            api_host=os.environ.get("CLOSELOOP_API_HOST", "127.0.0.1"),
            api_port=_int("CLOSELOOP_API_PORT", 8000),
            temporal_address=os.environ.get("CLOSELOOP_TEMPORAL_ADDRESS", "").strip() or None,
            temporal_port=_int("CLOSELOOP_TEMPORAL_PORT", 7233),
            temporal_ui_port=_int("CLOSELOOP_TEMPORAL_UI_PORT", 8233),
            task_queue=os.environ.get("CLOSELOOP_TASK_QUEUE", "closeloop-requests"),
            namespace=os.environ.get("CLOSELOOP_TEMPORAL_NAMESPACE", "default"),
            day_seconds=_float("CLOSELOOP_DAY_SECONDS", 86400.0),
            admin_password=os.environ.get("CLOSELOOP_ADMIN_PASSWORD") or None,
            seed_demo=_optional_flag("CLOSELOOP_SEED_DEMO"),
            jwt_secret=os.environ.get("CLOSELOOP_JWT_SECRET") or None,
            token_minutes=_count("CLOSELOOP_TOKEN_MINUTES", 60),
            poll_seconds=_float("CLOSELOOP_POLL_SECONDS", 0.2),
            intake_per_address=_count("CLOSELOOP_INTAKE_PER_ADDRESS", 10),
            intake_per_phone=_count("CLOSELOOP_INTAKE_PER_PHONE", 5),
            open311_rate=_count("CLOSELOOP_OPEN311_RATE", 30),
            encryption_key=os.environ.get("CLOSELOOP_ENCRYPTION_KEY", "").strip() or None,
            old_encryption_keys=tuple(
                key.strip()
                for key in os.environ.get("CLOSELOOP_OLD_ENCRYPTION_KEYS", "").split(",")
                if key.strip()
            ),
            production=_environment() == "production",
            login_account_limit=_count("CLOSELOOP_LOGIN_ACCOUNT_LIMIT", 5),
            login_address_limit=_count("CLOSELOOP_LOGIN_ADDRESS_LIMIT", 20),
            login_window_minutes=_count("CLOSELOOP_LOGIN_WINDOW_MINUTES", 15),
            login_lock_seconds=_count("CLOSELOOP_LOGIN_LOCK_SECONDS", 60),
            login_max_lock_minutes=_count("CLOSELOOP_LOGIN_MAX_LOCK_MINUTES", 60),
            trusted_proxies=os.environ.get("CLOSELOOP_TRUSTED_PROXIES", "").strip() or None,
            max_body_bytes=_count("CLOSELOOP_MAX_BODY_BYTES", 64 * 1024),
            behind_tls=_flag("CLOSELOOP_BEHIND_TLS", False),
            warn_share=_share("CLOSELOOP_WARN_SHARE", 0.75),
            max_extensions=_at_least_zero("CLOSELOOP_MAX_EXTENSIONS", 1),
            tier_rules=_tier_rules(),
            timezone=_timezone(),
            public_url=_public_url(),
            sms_provider=_sms_provider(),
            sms_gateway_url=os.environ.get("CLOSELOOP_SMS_GATEWAY_URL", "").strip() or None,
            sms_gateway_key=os.environ.get("CLOSELOOP_SMS_GATEWAY_KEY", "").strip() or None,
            sms_gateway_secret=os.environ.get("CLOSELOOP_SMS_GATEWAY_SECRET", "").strip() or None,
            sms_sign_name=os.environ.get("CLOSELOOP_SMS_SIGN_NAME", "").strip() or "closeloop",
            sms_quiet_hours=_quiet_hours(),
            self_review_hours=_hours("CLOSELOOP_SELF_REVIEW_HOURS", 72.0),
            response_hours=_response_hours(),
            rate_floors=_rate_floors(),
            delivery_retry_seconds=_float("CLOSELOOP_DELIVERY_RETRY_SECONDS", 30.0),
            delivery_max_retry_seconds=_float("CLOSELOOP_DELIVERY_MAX_RETRY_SECONDS", 3600.0),
            delivery_give_up_hours=_float("CLOSELOOP_DELIVERY_GIVE_UP_HOURS", 24.0),
            delivery_timeout_seconds=_float("CLOSELOOP_DELIVERY_TIMEOUT_SECONDS", 10.0),
            webhook_allow_private=_flag("CLOSELOOP_WEBHOOK_ALLOW_PRIVATE", False),
            notify=_flag("CLOSELOOP_NOTIFY", True),
            media_backend=_media_backend(),
            media_dir=_path_or_none("CLOSELOOP_MEDIA_DIR"),
            media_endpoint=os.environ.get("CLOSELOOP_MEDIA_ENDPOINT", "").strip() or None,
            media_bucket=os.environ.get("CLOSELOOP_MEDIA_BUCKET", "").strip() or None,
            media_region=os.environ.get("CLOSELOOP_MEDIA_REGION", "").strip() or None,
            media_access_key=os.environ.get("CLOSELOOP_MEDIA_ACCESS_KEY", "").strip() or None,
            media_secret_key=os.environ.get("CLOSELOOP_MEDIA_SECRET_KEY", "").strip() or None,
            map_tiles=_map_tiles(),
            map_attribution=os.environ.get("CLOSELOOP_MAP_ATTRIBUTION", "").strip() or None,
            duplicate_distance_m=_duplicate_distance(),
            duplicate_days=_duplicate_days(),
        )

    @property
    def target(self) -> str:
        """Where the Temporal frontend answers."""
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def links_base(self) -> str:
        """Where links in messages to residents point."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def self_review_seconds(self) -> float | None:
        """The self-review window on the request's clock (compressed with the day), or
        None when residents do not review themselves."""
        if self.self_review_hours <= 0:
            return None
        return self.self_review_hours * 3600.0 * self.day_seconds / 86400.0

    @property
    def response_seconds(self) -> float:
        """The response window on the request's clock (compressed with the day)."""
        return self.response_hours * 3600.0 * self.day_seconds / 86400.0

    def rate_floor(self, rate: str) -> float:
        """The league tables' floor of ``rate`` (a share: 0.9 is 90%)."""
        return dict(self.rate_floors).get(rate, DEFAULT_RATE_FLOOR)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

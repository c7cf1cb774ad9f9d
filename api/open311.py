"""Open311 GeoReport v2: what closeloop's requests and categories look like to a GeoReport
client, and how its answers are written (JSON or XML), without any I/O.

The published specification (wiki.open311.org/GeoReport_v2) fixes the names: a service is
a category of the catalogue, a service request is a request, and every answer is either a
list of objects (JSON) or a root element holding one element per object (XML:
``<services><service>``, ``<service_requests><request>``, ``<errors><error>``). JSON is the
Spark-convention mapping of the XML: the same names, ``null`` where the XML element is
empty. Times are W3C date-times in UTC (``2026-11-28T09:30:00Z``).

What a GET answer never holds (:func:`service_request`): the resident's name, phone or
anything sealed, and no free text written by a person. ``description`` is always empty:
residents describe their own homes, neighbours and illnesses, and a GeoReport list is public
to anyone. ``status_notes`` is a fixed sentence chosen from the request's state, never a
handler's note or resolution. The route reads only the read-model columns that this module
maps (:func:`projections.queries.public_requests`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from api.text import control_character, normalize
from domain.lifecycle import Invalid
from domain.place import place

#: Where the interface is served (its errors are in its own format under it).
PREFIX = "/open311/"
#: The address of the specification this interface follows.
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
#: When this interface last changed (the discovery document's ``changeset``).
CHANGESET = "2026-11-28T00:00:00Z"

JSON = "json"
XML = "xml"
FORMATS = (JSON, XML)
CONTENT_TYPES = {
    JSON: "application/json; charset=utf-8",
    XML: "text/xml; charset=utf-8",
}
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

#: The default and largest span of ``GET requests`` (the specification's 90 days).
MAX_SPAN = timedelta(days=90)
#: The most requests one ``GET requests`` answers (the specification's 1000).
MAX_REQUESTS = 1000
#: The longest description, in characters (the specification's 4,000).
MAX_DESCRIPTION = 4000

#: closeloop's statuses as a GeoReport client sees them: ``open`` while someone still has
#: to act, ``closed`` once it has been resolved ("closed: it has been resolved", says the
#: specification). A resolved request waiting for its follow-up review is closed; a failed
#: review reopens it and it reads ``open`` again. A request merged into another (a
#: duplicate) is open while it follows it: its work is still to be done.
OPEN = "open"
CLOSED = "closed"
STATUS_OF = {
    "waiting_dispatch": OPEN,
    "assigned": OPEN,
    "in_progress": OPEN,
    "merged": OPEN,
    "resolved": CLOSED,
    "closed": CLOSED,
}
STATUSES = (OPEN, CLOSED)

#: ``status_notes``: one fixed sentence per state, in each language (never a person's text).
NOTES: dict[str, tuple[str, str]] = {
    "waiting_dispatch": ("等待社区平台分派", "Waiting to be dispatched by the community platform"),
    "assigned": ("已交办，等待签收", "Assigned, waiting to be accepted"),
    "in_progress": ("正在办理", "Being handled"),
    "merged": (
        "与同一问题的其他反映合并办理",
        "Handled together with other reports of the same problem",
    ),
    "resolved": ("已办结，等待回访", "Resolved, waiting for the follow-up review"),
    "closed": ("已办结并回访", "Resolved and reviewed"),
    "unreachable": ("已办结，回访未联系上居民", "Resolved; the resident could not be reached"),
    "out_of_scope": ("不予受理", "Closed as outside what the office can act on"),
}

#: Who owns each tier, as ``group`` and the service description name it.
LEVEL_NAMES: dict[str, tuple[str, str]] = {
    "grid_worker": ("网格员", "grid worker"),
    "grid_branch": ("网格党组织", "grid party branch"),
    "community_committee": ("社区党委", "community party committee"),
    "town_committee": ("镇党委", "town party committee"),
}
TIER_NAMES: dict[str, tuple[str, str]] = {
    "1d": ("1天", "1 day"),
    "3d": ("3天", "3 days"),
    "5d": ("5天", "5 days"),
    "1m": ("1个月", "1 month"),
}
TIER_LEVELS = {
    "1d": "grid_worker",
    "3d": "grid_branch",
    "5d": "community_committee",
    "1m": "town_committee",
}

#: The fields of a service request in GET answers, in the specification's order.
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
SERVICE_FIELDS = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)


class Open311Error(Exception):
    """A refusal in the specification's error format: the HTTP ``status`` (404 for what
    does not exist, 403 for a missing or wrong ``api_key``, 400 for anything else; 429 over
    a key's rate) and a ``description`` meant for the person using the client."""

    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


def chinese(accept_language: str | None) -> bool:
    """Whether names and notes are given in Chinese: unless the client's first language is
    English (``Accept-Language: en...``), the office's own language."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return not first.startswith("en")


def _pick(pair: tuple[str, str], zh: bool) -> str:
    return pair[0] if zh else pair[1]


# ---- writing answers ------------------------------------------------------------------

#: Characters XML 1.0 cannot hold at all (escaping does not help): dropped on output.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _xml_element(parent: ElementTree.Element, name: str, value: Any, item: str) -> None:
    """``value`` as the child ``name`` of ``parent``: a list as one ``item`` child each
    (``attributes`` > ``attribute``, ``values`` > ``value``, ``formats`` > ``format``)."""
    child = ElementTree.SubElement(parent, name)
    if isinstance(value, list):
        inner = ITEM_NAMES.get(name, item)
        for entry in value:
            if isinstance(entry, Mapping):
                _xml_object(child, inner, entry)
            else:
                ElementTree.SubElement(child, inner).text = _xml_text(entry)
    elif isinstance(value, Mapping):
        for key, inner_value in value.items():
            _xml_element(child, key, inner_value, item)
    else:
        child.text = _xml_text(value)


def _xml_object(parent: ElementTree.Element, name: str, fields: Mapping[str, Any]) -> None:
    element = ElementTree.SubElement(parent, name)
    for key, value in fields.items():
        _xml_element(element, key, value, key)


#: The element of each item of a list, by the list's element.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def render_list(root: str, items: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """A list answer: a JSON array, or ``<root>`` with one ``<item>`` per entry."""
    if fmt == JSON:
        return json.dumps(list(items), ensure_ascii=False)
    element = ElementTree.Element(root)
    for entry in items:
        _xml_object(element, ITEM_NAMES[root], entry)
    return XML_DECLARATION + ElementTree.tostring(element, encoding="unicode")


def render_object(root: str, fields: Mapping[str, Any], fmt: str) -> str:
    """A single-object answer (a service definition, the discovery document)."""
    if fmt == JSON:
        return json.dumps(dict(fields), ensure_ascii=False)
    element = ElementTree.Element(root)
    for key, value in fields.items():
        _xml_element(element, key, value, key)
    return XML_DECLARATION + ElementTree.tostring(element, encoding="unicode")


def render_errors(error: Open311Error, fmt: str) -> str:
    """The specification's error answer: ``[{"code", "description"}]`` or
    ``<errors><error><code/><description/></error></errors>``."""
    return render_list("errors", [{"code": error.status, "description": error.description}], fmt)


def format_of(path: str) -> str:
    """The answer's format by the address's extension: JSON for ``.json``, else XML (the
    format the specification requires of every server)."""
    return JSON if path.rstrip("/").endswith(".json") else XML


def w3c(value: str | datetime | None) -> str | None:
    """A stored time as the specification writes it: UTC, whole seconds, ``Z``."""
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- services ---------------------------------------------------------------------------


def service(category: Mapping[str, Any], zh: bool) -> dict[str, Any]:
    """A category of the catalogue (``Category.public()``) as a GeoReport service.

    ``metadata`` is false (the catalogue defines no attributes), ``type`` realtime (a POST
    answers with the new request's id at once), ``keywords`` the names in both languages
    and the code, ``group`` the level that owns the category's default tier.
    """
    tier = str(category["default_tier"])
    level = TIER_LEVELS[tier]
    name = category["name_zh"] if zh else category["name_en"]
    if zh:
        description = f"默认办理时限：{TIER_NAMES[tier][0]}（{LEVEL_NAMES[level][0]}）"
    else:
        description = f"Default time limit: {TIER_NAMES[tier][1]} ({LEVEL_NAMES[level][1]})"
    return {
        "service_code": category["code"],
        "service_name": name,
        "description": description,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join((category["name_zh"], category["name_en"], category["code"])),
        "group": _pick(LEVEL_NAMES[level], zh),
    }


def service_definition(code: str) -> dict[str, Any]:
    """A service's definition: the catalogue has no attributes, so an empty list."""
    return {"service_code": code, "attributes": []}


# ---- service requests -------------------------------------------------------------------


def service_request(
    row: Mapping[str, Any],
    names: Mapping[str, tuple[str, str]],
    units: Mapping[str, str],
    zh: bool,
) -> dict[str, Any]:
    """A request's public read-model row (:func:`projections.queries.public_requests`) as
    a GeoReport service request.

    ``names``: each category's (Chinese, English) name; ``units``: each unit's name.
    ``agency_responsible`` is the unit at the request's current level (its community while
    it waits for dispatch), ``expected_datetime``
    its current deadline (empty while it waits for dispatch), ``address`` its grid,
    community and town (most specific first). ``description`` is always empty and
    ``status_notes`` a fixed sentence (see the module's docstring). ``lat`` and ``long``
    are the request's point rounded to :data:`PUBLIC_DEGREES` decimals (about 110 m: the
    street, not the household); ``address_id``, ``zipcode`` and ``media_url`` are empty
    (the address and building are personal data, and the photos are shown to staff only).
    """
    status = str(row["status"])
    outcome = row.get("closed_outcome")
    note_key = str(outcome) if status == "closed" and outcome in NOTES else status
    category = str(row["category"])
    pair = names.get(category)
    closed_at = row.get("closed_at") if status == "closed" else None
    place = [units.get(str(row[key])) for key in ("grid_id", "community_id", "town_id")]
    # waiting for dispatch, the request is the community platform's to hand out
    agency = "community_id" if status == "waiting_dispatch" else "level_unit_id"
    return {
        "service_request_id": row["id"],
        "status": STATUS_OF.get(status, OPEN),
        "status_notes": _pick(NOTES[note_key], zh) if note_key in NOTES else None,
        "service_name": _pick(pair, zh) if pair else category,
        "service_code": category,
        "description": None,
        "agency_responsible": units.get(str(row[agency])),
        "service_notice": None,
        "requested_datetime": w3c(row["created_at"]),
        "updated_datetime": w3c(closed_at or row["updated_at"]),
        "expected_datetime": w3c(row.get("deadline")),
        "address": ", ".join(p for p in place if p) or None,
        "address_id": None,
        "zipcode": None,
        "lat": _public_degrees(row.get("lat")),
        "long": _public_degrees(row.get("long")),
        "media_url": None,
    }


#: Decimals of a request's point in public answers: 3 is about 110 m, a street or a block
#: rather than the household that filed it.
PUBLIC_DEGREES = 3


def _public_degrees(value: Any) -> float | None:
    return None if value is None else round(float(value), PUBLIC_DEGREES)


# ---- reading GET requests' arguments ----------------------------------------------------


def given(value: str | None) -> str | None:
    """An optional argument: empty counts as not given (the specification's rule)."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def listed(value: str | None) -> list[str]:
    """A comma-delimited argument as its non-empty parts."""
    return [part.strip() for part in (given(value) or "").split(",") if part.strip()]


def instant(value: str | None, name: str) -> datetime | None:
    """A W3C date-time argument with its zone (a bare date: its midnight in UTC); 400 for
    anything else."""
    text = given(value)
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a W3C date-time such as 2026-01-01T00:00:00Z"
        ) from None
    if at.tzinfo is None:
        raise Open311Error(400, f"{name} must include its time zone (Z or +08:00)")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class Query:
    """What ``GET requests`` asks for: either ``ids`` (which overrides everything else) or
    the service codes, statuses and the span of ``requested_datetime``."""

    ids: tuple[str, ...]
    codes: tuple[str, ...]
    statuses: tuple[str, ...]  # closeloop's statuses
    start: datetime
    end: datetime


def request_query(args: Mapping[str, str], now: datetime) -> Query:
    """``GET requests``' arguments read as the specification says: ``service_request_id``
    (comma-delimited) overrides the rest; ``service_code`` and ``status`` (``open``,
    ``closed``) are comma-delimited; ``start_date`` and ``end_date`` span at most 90 days,
    and the span defaults to the 90 days up to ``end_date`` (or now), or from ``start_date``."""
    ids = tuple(listed(args.get("service_request_id")))
    if len(ids) > MAX_REQUESTS:
        raise Open311Error(400, f"at most {MAX_REQUESTS} service_request_id at once")
    wanted = listed(args.get("status"))
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown and not ids:
        raise Open311Error(400, f"status must be open or closed, not {unknown[0][:40]!r}")
    statuses = tuple(s for s, shown in STATUS_OF.items() if shown in wanted)
    start = instant(args.get("start_date"), "start_date")
    end = instant(args.get("end_date"), "end_date")
    if not ids:
        if start is None and end is None:
            end = now
        if start is None:
            assert end is not None
            start = end - MAX_SPAN
        if end is None:
            end = start + MAX_SPAN
        if end < start:
            raise Open311Error(400, "end_date must not be before start_date")
        if end - start > MAX_SPAN:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return Query(
        ids=ids,
        codes=tuple(listed(args.get("service_code"))),
        statuses=statuses,
        start=start or now - MAX_SPAN,
        end=end or now,
    )


# ---- reading a POST ---------------------------------------------------------------------

#: A phone number's characters and length, as the API's own intake takes it.
PHONE = re.compile(r"^[0-9+\-() ]{3,32}$")
#: The longest name part, address and identifier taken.
MAX_NAME = 50
MAX_ADDRESS = 500
MAX_URL = 2000


@dataclass(frozen=True)
class Filing:
    """A GeoReport POST, checked: what closeloop keeps of it.

    ``email``, ``device_id`` and ``account_id`` are read (and checked for control
    characters) but kept nowhere: the intake has no place for them, and a resident's email
    is not something to hold without a use for it.
    """

    service_code: str
    lat: float | None
    long: float | None
    address_string: str | None
    address_id: str | None
    description: str | None
    media_url: str | None
    name: str
    phone: str


def _text(form: Mapping[str, str], name: str, longest: int) -> str | None:
    value = given(form.get(name))
    if value is None:
        return None
    found = control_character(value)
    if found is not None:
        raise Open311Error(400, f"{name} must not contain control characters (found {found})")
    if len(value) > longest:
        raise Open311Error(400, f"{name} is longer than {longest} characters")
    return normalize(value)


def _coordinate(form: Mapping[str, str], name: str, bound: float) -> float | None:
    value = given(form.get(name))
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number (WGS84 degrees)") from None
    if not -bound <= number <= bound:  # also refuses nan
        raise Open311Error(400, f"{name} must be between -{bound:g} and {bound:g}")
    return number


def media_url(value: str | None) -> str | None:
    """An http or https address with a host, or None; 400 for anything else."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Open311Error(400, "media_url must be an http or https address")
    if any(c.isspace() for c in value):
        raise Open311Error(400, "media_url must not contain spaces")
    return value


def full_name(first: str | None, last: str | None) -> str:
    """The resident's name as it is written: a Chinese name family name first, with no
    space (王 + 小明: 王小明); any other given name first (Lei Li)."""
    if first and last and all(_cjk(c) for c in first + last):
        return last + first
    return " ".join(part for part in (first, last) if part)


def _cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def filing(form: Mapping[str, str]) -> Filing:
    """A POST's arguments checked as the specification asks: ``service_code`` required;
    a location required, ``lat`` and ``long`` together, or ``address_string``, or
    ``address_id``; ``description`` at most 4,000 characters; ``media_url`` http(s);
    ``phone`` a phone number. Every refusal is a 400 that names the argument."""
    code = _text(form, "service_code", 64)
    if code is None:
        raise Open311Error(400, "service_code was not provided")
    lat = _coordinate(form, "lat", 90)
    long = _coordinate(form, "long", 180)
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat and long must be sent together")
    address = _text(form, "address_string", MAX_ADDRESS)
    address_id = _text(form, "address_id", 100)
    if lat is None and address is None and address_id is None:
        raise Open311Error(
            400, "a location is required: lat and long, or address_string, or address_id"
        )
    description = _text(form, "description", MAX_DESCRIPTION)
    url = media_url(_text(form, "media_url", MAX_URL))
    first = _text(form, "first_name", MAX_NAME)
    last = _text(form, "last_name", MAX_NAME)
    phone = _text(form, "phone", 32)
    if phone is not None and not PHONE.match(phone):
        raise Open311Error(400, "phone must be a phone number (digits, spaces, + - ( ))")
    for unkept in ("email", "device_id", "account_id", "jurisdiction_id"):
        _text(form, unkept, 320)
    return Filing(
        service_code=code,
        lat=lat,
        long=long,
        address_string=address,
        address_id=address_id,
        description=description,
        media_url=url,
        name=full_name(first, last),
        phone=phone or "",
    )


def intake_fields(filed: Filing) -> dict[str, Any]:
    """The intake fields a GeoReport filing fills: ``description``, the resident's
    ``resident_name`` and ``resident_phone``, and the place: ``lat``/``long`` and
    ``address`` (from ``address_string``), checked by :func:`domain.place.place` (400 with
    the reason when they do not hold).

    ``address_id`` and ``media_url`` have no intake field: they are written into the
    description, one labelled line each after the resident's own text, where the
    dispatcher reads them (closeloop does not fetch ``media_url``: a link sent by a client
    is not downloaded by the server).
    """
    try:
        where = place(filed.lat, filed.long, filed.address_string, None)
    except Invalid as e:
        raise Open311Error(400, str(e)) from None
    lines = [filed.description] if filed.description else []
    if filed.address_id:
        lines.append(f"地址编号 Address ID: {filed.address_id}")
    if filed.media_url:
        lines.append(f"图片 Media: {filed.media_url}")
    return {
        "description": "\n".join(lines),
        "resident_name": filed.name,
        "resident_phone": filed.phone,
        "lat": where.get("lat"),
        "long": where.get("long"),
        "address": where.get("address"),
    }

"""What the Open311 GeoReport v2 specification (wiki.open311.org/GeoReport_v2) shows in its
example answers, as element names: the shapes a GeoReport client expects, written down
from the specification alone (nothing here knows closeloop).

Each shape is ``(root, item, fields)``: the XML root, the element of each entry, and the
child elements of an entry in the example's order; JSON carries the same names as keys
of each object of an array.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

SERVICES = (
    "services",
    "service",
    (
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ),
)
SERVICE_REQUESTS = (
    "service_requests",
    "request",
    (
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
    ),
)
#: The answer to a POST that files at once (no token).
POSTED = ("service_requests", "request", ("service_request_id", "service_notice", "account_id"))
ERRORS = ("errors", "error", ("code", "description"))
#: A service definition: an object, its attributes a list of ``attribute``.
DEFINITION = ("service_definition", ("service_code", "attributes"))
ATTRIBUTE = (
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
)
#: The service discovery document.
DISCOVERY = ("discovery", ("changeset", "contact", "key_service", "endpoints"))
ENDPOINT = ("specification", "url", "changeset", "type", "formats")

XML_TYPE = "text/xml"
JSON_TYPE = "application/json"


def xml_items(text: str, shape: tuple[str, str, tuple[str, ...]]) -> list[dict[str, str | None]]:
    """An XML list answer checked against ``shape`` (root, item element, each item's
    children in order, nothing else), as one dict of element texts per item."""
    assert text.startswith("<?xml"), text[:80]
    assert 'encoding="utf-8"' in text.split("?>")[0].lower(), text[:80]
    root, item, fields = shape
    tree = ElementTree.fromstring(text)
    assert tree.tag == root, tree.tag
    items = []
    for child in tree:
        assert child.tag == item, child.tag
        assert tuple(e.tag for e in child) == fields, [e.tag for e in child]
        assert all(len(e) == 0 for e in child), "a field holds elements"
        items.append({e.tag: e.text for e in child})
    return items


def json_items(body: Any, shape: tuple[str, str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """A JSON list answer checked against ``shape``: an array of objects with the fields'
    names as keys."""
    assert isinstance(body, list), body
    for entry in body:
        assert isinstance(entry, dict), entry
        assert tuple(entry) == shape[2], tuple(entry)
    return body

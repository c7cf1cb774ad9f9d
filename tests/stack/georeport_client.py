"""A GeoReport v2 client written from the specification alone (wiki.open311.org/GeoReport_v2),
as a third party would write one: it knows the discovery document, the six methods, the
form-encoded POST, the XML lists (a root holding one element per entry, a field per child
element) and their JSON twins, and nothing of the server behind them.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import httpx


class GeoReportError(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.errors = errors


def parse_xml(text: str) -> Any:
    """A GeoReport XML answer as plain data: a list root (``services``,
    ``service_requests``, ``errors``) as a list of dicts, any other root as a dict; an
    element with children as a dict (or, when its children share one name, a list)."""
    root = ElementTree.fromstring(text)
    if root.tag in ("services", "service_requests", "errors"):
        return [_value(child) for child in root]
    return _value(root)


def _value(element: ElementTree.Element) -> Any:
    children = list(element)
    if not children:
        return element.text
    names = {child.tag for child in children}
    if len(children) > 1 and len(names) == 1 or element.tag.endswith("s") and len(names) == 1:
        return [_value(child) for child in children]
    return {child.tag: _value(child) for child in children}


class GeoReport:
    """One GeoReport endpoint, found through a discovery document."""

    def __init__(self, http: httpx.AsyncClient, fmt: str = "xml") -> None:
        self.http = http
        self.fmt = fmt
        self.endpoint = ""

    async def discover(self, discovery_url: str) -> dict[str, Any]:
        """Read the discovery document; use its first GeoReport v2 endpoint."""
        answer = await self.http.get(discovery_url)
        answer.raise_for_status()
        document = _endpoints(discovery_url, answer)
        for endpoint in document["endpoints"]:
            if "GeoReport_v2" in endpoint["specification"]:
                self.endpoint = endpoint["url"]
                return endpoint
        raise AssertionError("no GeoReport v2 endpoint")

    def _url(self, resource: str) -> str:
        return f"{self.endpoint}/{resource}.{self.fmt}"

    def _read(self, answer: httpx.Response) -> Any:
        wanted = "text/xml" if self.fmt == "xml" else "application/json"
        assert answer.headers["content-type"].startswith(wanted), answer.headers
        body = parse_xml(answer.text) if self.fmt == "xml" else answer.json()
        if answer.status_code >= 400:
            raise GeoReportError(answer.status_code, body)
        return body

    async def services(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._read(await self.http.get(self._url("services")))
        return result

    async def definition(self, service_code: str) -> dict[str, Any]:
        answer = await self.http.get(self._url(f"services/{service_code}"))
        result: dict[str, Any] = self._read(answer)
        return result

    async def create(self, **fields: str) -> list[dict[str, Any]]:
        answer = await self.http.post(self._url("requests"), data=fields)
        result: list[dict[str, Any]] = self._read(answer)
        return result

    async def requests(self, **params: str) -> list[dict[str, Any]]:
        answer = await self.http.get(self._url("requests"), params=params)
        result: list[dict[str, Any]] = self._read(answer)
        return result

    async def request(self, service_request_id: str) -> list[dict[str, Any]]:
        answer = await self.http.get(self._url(f"requests/{service_request_id}"))
        result: list[dict[str, Any]] = self._read(answer)
        return result


def _endpoints(url: str, answer: httpx.Response) -> dict[str, Any]:
    if url.endswith(".json"):
        document: dict[str, Any] = answer.json()
        return document
    root = ElementTree.fromstring(answer.text)
    return {
        "endpoints": [
            {child.tag: child.text for child in endpoint}
            for endpoint in root.findall("endpoints/endpoint")
        ]
    }

"""Text that cannot be stored is refused: every text field of every endpoint that takes text
answers 422 naming the field when it holds a control character or a lone surrogate, and
nothing is written (no event, no workflow, no roster row), on SQLite and PostgreSQL.

A whole stack per database (real Temporal dev server, worker, the FastAPI app over httpx),
shared by the module's cases: the refusals leave it as it was, which is what is checked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api import roster
from api.app import create_app
from api.routes.requests import IDEMPOTENCY_NAMESPACE
from closeloop import catalogue
from closeloop.bootstrap import ensure_admin, seed_demo
from closeloop.runtime import prepare
from closeloop.settings import Settings
from closeloop.store import RequestStore, store_env
from domain.ladder import UnitKind
from tests.databases import BACKENDS, postgres_database
from workflows.messages import workflow_id
from workflows.worker import build_worker

ADMIN_PASSWORD = "text-tests-passphrase"
GRID = "医院西路社区第一网格"
COMMUNITY = "医院西路社区"
YES = {"completion": "yes", "progress": "yes", "effect": "yes", "satisfaction": "yes"}


@dataclass
class Town:
    """The running stack on one database, with a request in progress and one resolved."""

    http: httpx.AsyncClient
    engine: Engine
    store: RequestStore
    temporal: Client
    headers: dict[str, dict[str, str]]
    grid_id: str
    community_id: str
    in_progress: str
    resolved: str

    async def post(self, url: str, body: Any, user: str | None = None, **headers: str) -> Any:
        """POST ``body`` as JSON with every non-ASCII character escaped (so a lone surrogate
        can be sent, as ``\\ud800``)."""
        return await self.http.post(
            url,
            content=json.dumps(body).encode("ascii"),
            headers={
                "Content-Type": "application/json",
                **(self.headers[user] if user else {}),
                **headers,
            },
        )

    def written(self) -> tuple[Any, ...]:
        """Everything a refused command must leave as it was: the store and the roster."""
        units = [(u.id, u.name, u.kind, u.parent_id) for u in roster.list_units(db=self.engine)]
        users = [
            (u.id, u.username, u.display_name, u.role, u.assignments)
            for u in roster.list_users(db=self.engine)
        ]
        with self.engine.connect() as conn:  # a connection reads past the cache
            categories = catalogue.list_categories(db=conn)
        return self.store.recorder.max_notification_id(), units, users, categories

    async def started(self, idempotency_key: str) -> bool:
        """Whether the request an Idempotency-Key names has a workflow."""
        request_id = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key))
        try:
            await self.temporal.get_workflow_handle(workflow_id(request_id)).describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True


@pytest_asyncio.fixture(scope="module", params=BACKENDS)
async def town(
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    executor: ThreadPoolExecutor,
) -> AsyncIterator[Town]:
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        folder = tmp_path_factory.mktemp(f"text-{request.param}")
        url = (
            f"sqlite:///{folder / 'closeloop.db'}"
            if request.param == "sqlite"
            else stack.enter_context(postgres_database())
        )
        env.setenv("CLOSELOOP_DATA_DIR", str(folder))
        env.setenv("CLOSELOOP_DATABASE_URL", url)
        env.setenv("CLOSELOOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        env.setenv("CLOSELOOP_TASK_QUEUE", f"text-{uuid.uuid4()}")
        env.delenv("CLOSELOOP_JWT_SECRET", raising=False)
        settings = Settings.from_env()
        engine = prepare(settings)
        ensure_admin(engine, settings)
        passwords = {**(seed_demo(engine) or {}), "admin": ADMIN_PASSWORD}
        store = RequestStore(env=store_env(settings.database_url))
        worker = build_worker(temporal_env.client, settings.task_queue, store, executor)
        async with worker:
            app = create_app(settings, engine, temporal=temporal_env.client)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as http:
                headers = {}
                for username, password in passwords.items():
                    answer = await http.post(
                        "/api/v1/auth/token", data={"username": username, "password": password}
                    )
                    assert answer.status_code == 200, answer.text
                    headers[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
                units = {u.name: u.id for u in roster.list_units(db=engine)}
                town = Town(
                    http, engine, store, temporal_env.client, headers, units[GRID],
                    units[COMMUNITY], "", "",
                )  # fmt: skip
                town.in_progress = await _request(town, "accept")
                town.resolved = await _request(town, "accept", "resolve")
                yield town
        store.close()
        engine.dispose()


def _intake(town: Town) -> dict[str, Any]:
    return {
        "grid_id": town.grid_id, "category": "water_leak", "description": "楼上漏水",
        "channel": "hotline", "resident": {"name": "李先生", "phone": "13800000000"},
        "tier": "1d",
    }  # fmt: skip


async def _request(town: Town, *actions: str) -> str:
    answer = await town.post("/api/v1/requests", _intake(town), "worker1")  # staff set tiers
    assert answer.status_code == 201, answer.text
    request_id: str = answer.json()["id"]
    for action in actions:
        body = {"resolution": "修好了"} if action == "resolve" else {}
        answer = await town.post(f"/api/v1/requests/{request_id}/{action}", body, "worker1")
        assert answer.status_code == 200, answer.text
    return request_id


def _set(body: dict[str, Any], path: tuple[str | int, ...], char: str) -> None:
    """Put ``char`` in the middle of the value at ``path`` (a value is made when missing)."""
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    value = str(target.get(path[-1], "") if isinstance(target, dict) else target[path[-1]])
    value = value or "文字"
    target[path[-1]] = value[:1] + char + value[1:]


def _bodies(town: Town) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    """Each endpoint that takes text: its URL, who sends it, and a body it would accept."""
    return {
        "file": ("/api/v1/requests", "worker1", _intake(town)),
        "progress": (f"/api/v1/requests/{town.in_progress}/progress", "worker1", {"note": "上门"}),
        "escalate": (
            f"/api/v1/requests/{town.in_progress}/escalate",
            "worker1",
            {"reason": "需要协调"},
        ),
        "resolve": (
            f"/api/v1/requests/{town.in_progress}/resolve",
            "worker1",
            {"resolution": "修好了"},
        ),
        "review": (
            f"/api/v1/requests/{town.resolved}/review",
            "caller1",
            {"reached": True, **YES, "comment": "满意"},
        ),
        "unit": (
            "/api/v1/units",
            "admin",
            {"name": "第三网格", "kind": "grid", "parent_id": town.community_id},
        ),
        "category": (
            "/api/v1/categories",
            "admin",
            {"code": "lift_fault", "name_zh": "电梯故障", "name_en": "Lift", "default_tier": "5d"},
        ),
        "user": (
            "/api/v1/users",
            "admin",
            {
                "username": "worker9",
                "password": "a-long-password",
                "display_name": "网格员",
                "role": "handler",
                "assignments": [{"unit_id": town.grid_id, "level": "grid_worker"}],
            },
        ),
    }


#: Every text field of every endpoint that takes text (path in the JSON body).
FIELDS: list[tuple[str, tuple[str | int, ...]]] = [
    ("file", ("grid_id",)),
    ("file", ("category",)),
    ("file", ("description",)),
    ("file", ("channel",)),
    ("file", ("tier",)),
    ("file", ("resident", "name")),
    ("file", ("resident", "phone")),
    ("progress", ("note",)),
    ("escalate", ("reason",)),
    ("resolve", ("resolution",)),
    ("review", ("comment",)),
    ("review", ("completion",)),
    ("review", ("progress",)),
    ("review", ("effect",)),
    ("review", ("satisfaction",)),
    ("unit", ("name",)),
    ("unit", ("kind",)),
    ("unit", ("parent_id",)),
    ("user", ("username",)),
    ("user", ("display_name",)),
    ("user", ("role",)),
    ("user", ("assignments", 0, "unit_id")),
    ("user", ("assignments", 0, "level")),
    ("category", ("code",)),
    ("category", ("name_zh",)),
    ("category", ("name_en",)),
    ("category", ("default_tier",)),
]


def _refused(answer: httpx.Response, loc: list[Any], found: str) -> None:
    assert answer.status_code == 422, answer.text
    errors = answer.json()["detail"]
    assert isinstance(errors, list), errors
    mine = [e for e in errors if e["loc"] == loc]
    assert mine, f"no error names {loc}: {errors}"
    assert mine[0]["type"] == "control_character", mine
    assert mine[0]["msg"] == f"must not contain control characters (found {found})", mine


async def _refuses_and_writes_nothing(
    town: Town, endpoint: str, path: tuple[str | int, ...], char: str
) -> None:
    url, user, body = _bodies(town)[endpoint]
    _set(body, path, char)
    key = str(uuid.uuid4())
    before = town.written()
    answer = await town.post(url, body, user, **{"Idempotency-Key": key})
    _refused(answer, ["body", *path], f"U+{ord(char):04X}")
    assert town.written() == before
    assert not await town.started(key)  # no request's workflow was started


@pytest.mark.parametrize(
    ("endpoint", "path"), FIELDS, ids=[f"{e}-{'.'.join(map(str, p))}" for e, p in FIELDS]
)
async def test_nul_is_refused_in_every_text_field(
    town: Town, endpoint: str, path: tuple[str | int, ...]
) -> None:
    await _refuses_and_writes_nothing(town, endpoint, path, "\x00")


CONTROLS = ["\x01", "\x08", "\x0b", "\x0c", "\r", "\x1b", "\x1f", "\x7f", "\x85", "\x9f",
            "\ud800", "\udfff"]  # fmt: skip


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
async def test_other_controls_and_lone_surrogates_are_refused(town: Town, char: str) -> None:
    await _refuses_and_writes_nothing(town, "file", ("description",), char)
    await _refuses_and_writes_nothing(town, "progress", ("note",), char)
    await _refuses_and_writes_nothing(town, "user", ("display_name",), char)


async def test_newline_and_tab_are_text_and_crlf_is_stored_as_a_newline(town: Town) -> None:
    body = {**_intake(town), "description": "一楼\r\n二楼\t漏水\n三楼"}
    answer = await town.post("/api/v1/requests", body, "worker1")
    assert answer.status_code == 201, answer.text
    assert answer.json()["description"] == "一楼\n二楼\t漏水\n三楼"
    answer = await town.post(f"/api/v1/requests/{answer.json()['id']}/accept", {}, "worker1")
    assert answer.status_code == 200, answer.text


async def test_sign_in_refuses_a_control_character_in_the_username(town: Town) -> None:
    answer = await town.http.post(
        "/api/v1/auth/token", data={"username": "admin\x00", "password": ADMIN_PASSWORD}
    )
    _refused(answer, ["body", "username"], "U+0000")


@pytest.mark.parametrize(
    "payload",
    [b'{"description": "\xff\xfe"}', b"\x00\x01\x02\xff\xfe\xfd", b"\xef\xbb\xbf\xc3\x28"],
    ids=["invalid-utf8-in-json", "binary", "bom-then-invalid"],
)
async def test_a_body_that_is_not_utf8_is_a_4xx(town: Town, payload: bytes) -> None:
    before, key = town.written(), str(uuid.uuid4())
    for url, user, _ in _bodies(town).values():
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        answer = await town.http.post(
            url, content=payload, headers={**headers, **(town.headers[user] if user else {})}
        )
        assert 400 <= answer.status_code < 500, (url, answer.status_code, answer.text)
    assert town.written() == before
    assert not await town.started(key)


async def test_a_lone_surrogate_in_a_key_is_a_422(town: Town) -> None:
    answer = await town.post("/api/v1/requests", {**_intake(town), "\ud800": "x"})
    assert answer.status_code == 422, answer.text


async def test_reads_with_a_control_character_are_not_a_500(town: Town) -> None:
    """Filters and ids reach the database too: PostgreSQL cannot even compare with a NUL."""
    supervisor, admin = town.headers["supervisor1"], town.headers["admin"]
    for url, headers in [
        ("/api/v1/requests?unit_id=a%00b", supervisor),
        ("/api/v1/requests?category=a%00b", supervisor),
        ("/api/v1/stats?unit_id=a%00b", supervisor),
        ("/api/v1/units?parent_id=a%00b", admin),
    ]:
        answer = await town.http.get(url, headers=headers)
        assert answer.status_code == 422, (url, answer.text)
    for url, headers in [
        ("/api/v1/requests/a%00b", supervisor),
        ("/api/v1/track/a%00b", {}),
    ]:
        answer = await town.http.get(url, headers=headers)
        assert answer.status_code == 404, (url, answer.text)


def test_the_roster_refuses_control_characters_outside_the_api(engine: Engine) -> None:
    """The CLI and the seed write the roster without the API: the same rule holds there."""
    with pytest.raises(roster.InvalidRoster, match=r"control characters \(found U\+0000\)"):
        roster.create_unit("城关\x00镇", UnitKind.TOWN, db=engine)
    with pytest.raises(roster.InvalidRoster, match=r"control characters \(found U\+001B\)"):
        roster.create_user("a\x1bb", "a-long-password", "回访员", roster.Role.CALLER, db=engine)
    assert roster.count_units(db=engine) == roster.count_users(db=engine) == 0

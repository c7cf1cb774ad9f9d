"""The demo town (users with published passwords) comes with ``closeloop dev`` only; the
production bootstrap adds it only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from api import roster
from closeloop import cli
from closeloop.bootstrap import wants_demo
from closeloop.db import make_engine

ROOT = Path(__file__).resolve().parents[2]


def _bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, seed: str | None = None
) -> tuple[int, list[str]]:
    """``closeloop bootstrap ARGS`` on an empty data folder: the users it leaves."""
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CLOSELOOP_ADMIN_PASSWORD", "bootstrap-tests-passphrase")
    monkeypatch.delenv("CLOSELOOP_DATABASE_URL", raising=False)
    if seed is None:
        monkeypatch.delenv("CLOSELOOP_SEED_DEMO", raising=False)
    else:
        monkeypatch.setenv("CLOSELOOP_SEED_DEMO", seed)
    assert cli.main(["bootstrap", *args]) == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'closeloop.db'}")
    try:
        users = sorted(u.username for u in roster.list_users(db=engine))
        return roster.count_units(db=engine), users
    finally:
        engine.dispose()


def test_production_bootstrap_adds_no_demo_town(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _bootstrap(tmp_path, monkeypatch) == (0, ["admin"])


def test_production_bootstrap_seeds_when_asked_by_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    units, users = _bootstrap(tmp_path, monkeypatch, "--seed-demo")
    assert units > 0 and "worker1" in users and "supervisor1" in users


def test_production_bootstrap_seeds_when_the_setting_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    units, users = _bootstrap(tmp_path, monkeypatch, seed="1")
    assert units > 0 and "caller1" in users


def test_production_bootstrap_with_the_setting_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _bootstrap(tmp_path, monkeypatch, seed="0") == (0, ["admin"])


def test_dev_seeds_unless_told_not_to() -> None:
    """``closeloop dev`` (``make run``); the browser tests log in as its demo users."""
    assert wants_demo(None, development=True)
    assert wants_demo(True, development=True)
    assert not wants_demo(False, development=True)
    assert not wants_demo(None, development=False)


def test_the_compose_file_does_not_ask_for_the_demo() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["bootstrap"]
    env = compose["x-closeloop-env"]
    assert env["CLOSELOOP_SEED_DEMO"] == "${CLOSELOOP_SEED_DEMO:-0}"

"""Rows projected before contacts were sealed: the migration masks them, and
``closeloop projections reseal`` seals their contacts from the filing events."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from closeloop.cli import main
from closeloop.keys import Keyring
from domain.privacy import open_contact
from projections.reseal import mask_clear_rows, reseal, unsealed
from projections.runner import Projector
from projections.tables import requests
from tests.projections.conftest import T0, RequestLog

NAME, PHONE = "Zhao Lei", "13912345678"


def _project(log: RequestLog, database_url: str) -> None:
    projector = Projector(database_url, store=log.store)  # no key: nothing is sealed
    while projector.run_batch():
        pass
    projector.close()


def _row(engine: Engine, request_id: str) -> tuple[str, str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(requests).where(requests.c.id == request_id)).one()
    return row.resident_name, row.resident_phone, row.resident_sealed


def test_reseal_seals_what_the_rows_lack_once(
    log: RequestLog, database_url: str, engine: Engine, sealer: Keyring
) -> None:
    rid = log.file(T0, name=NAME, phone=PHONE)
    other = log.file(T0, name="Qian Yi", phone="13700001111")
    _project(log, database_url)
    assert _row(engine, rid) == ("Z*", "139****5678", None)
    assert sorted(unsealed(engine)) == sorted([rid, other])

    assert reseal(engine, log.store, sealer) == 2
    name, phone, sealed = _row(engine, rid)
    assert (name, phone) == ("Z*", "139****5678") and sealed is not None
    assert open_contact(sealer, sealed) == {"name": NAME, "phone": PHONE}
    assert unsealed(engine) == [] and reseal(engine, log.store, sealer) == 0


def test_clear_rows_are_masked_and_the_command_seals_them(
    log: RequestLog,
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rid = log.file(T0, name=NAME, phone=PHONE)
    _project(log, database_url)
    # as a row stood before the migration: the contact in clear, nothing sealed
    with engine.begin() as conn:
        conn.execute(
            update(requests)
            .where(requests.c.id == rid)
            .values(resident_name=NAME, resident_phone=PHONE)
        )
    with engine.begin() as conn:  # what the migration that added sealing does
        assert mask_clear_rows(conn) == 1
    assert _row(engine, rid) == ("Z*", "139****5678", None)

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path / "data"))
    assert main(["projections", "reseal"]) == 0
    assert "sealed 1" in capsys.readouterr().out
    assert main(["projections", "reseal"]) == 0
    assert "every request's contact is sealed" in capsys.readouterr().out
    assert _row(engine, rid)[2] is not None

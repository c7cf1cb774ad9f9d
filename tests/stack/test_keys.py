"""The key that seals residents' data: sealing, rotation, tampering, the key file, and the
refusals in production."""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import MapperDeserialisationError
from sqlalchemy import create_engine, text
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from api.security import SECRET_FILE
from closeloop.keys import KEY_FILE, Keyring, SealError, keyring, new_key, refusals
from closeloop.payload_codec import ENCODING, KEY_ID, SealingCodec
from closeloop.settings import Settings
from closeloop.store import STORE_NAME, RequestStore, store_env
from domain.ladder import Tier
from domain.state import Intake, RequestState

NAME = "欧阳娜娜"
PHONE = "13912345678"
DESCRIPTION = "楼道灯坏了三天"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def _key() -> bytes:
    return os.urandom(32)


def _settings(tmp_path: Path, **changes: object) -> Settings:
    plain: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "encryption_key": None,
        "old_encryption_keys": (),
        "production": False,
        "jwt_secret": None,
    }
    return dataclasses.replace(Settings.from_env(), **{**plain, **changes})  # type: ignore[arg-type]


def _file(store: RequestStore) -> uuid.UUID:
    rid = uuid.uuid4()
    intake = Intake(str(rid), "g", "c", "t", "water_leak", DESCRIPTION, "app", NAME, PHONE, Tier.D1)
    assert store.record(rid, "filed", RequestState.decide_file(intake, T0, "resident", 3600))
    return rid


def _stored_states(database_url: str) -> list[bytes]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT state FROM {STORE_NAME}_events")).all()
    finally:
        engine.dispose()
    return [bytes(row[0]) for row in rows]


# ---- the keyring -------------------------------------------------------------------


def test_sealed_data_opens_and_a_changed_byte_is_refused() -> None:
    keys = Keyring(_key())
    sealed = keys.seal(PHONE.encode())
    assert PHONE.encode() not in sealed
    assert keys.seal(PHONE.encode()) != sealed  # a fresh nonce each time
    assert keys.open(sealed) == PHONE.encode()
    for at in (len(sealed) - 1, 10, 1):  # the tag, the nonce, the key id
        altered = bytearray(sealed)
        altered[at] ^= 1
        with pytest.raises(SealError):
            keys.open(bytes(altered))
    with pytest.raises(SealError, match="cut short"):
        keys.open(sealed[:20])
    text_ = keys.seal_text(NAME)
    assert NAME not in text_ and keys.open_text(text_) == NAME
    with pytest.raises(SealError, match="not base64"):
        keys.open_text("not sealed!")


def test_a_rotated_keyring_opens_what_the_old_key_sealed() -> None:
    old, new = _key(), _key()
    sealed = Keyring(old).seal(b"x")
    with pytest.raises(SealError, match="neither CLOSELOOP_ENCRYPTION_KEY nor"):
        Keyring(new).open(sealed)
    rotated = Keyring(new, (old,))
    assert rotated.open(sealed) == b"x"
    assert Keyring(new).open(rotated.seal(b"y")) == b"y"  # the new key seals
    assert base64.b64encode(new).decode() not in repr(rotated)


def test_without_a_key_one_is_generated_into_the_data_folder_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    with caplog.at_level("WARNING", logger="closeloop.keys"):
        first = keyring(settings)
    path = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
    said = caplog.text
    assert str(path) in said and "Back it up" in said
    assert path.read_text().strip() not in said  # where, never what
    caplog.clear()
    with caplog.at_level("WARNING", logger="closeloop.keys"):
        again = keyring(settings)
    assert again.current == first.current
    assert "generated" not in caplog.text  # told once


#: What each process prints, and the file it must agree with.
_SHARED = {
    "the encryption key": (
        "from closeloop.keys import keyring\n"
        "print(base64.b64encode(keyring(s).current).decode())\n",
        KEY_FILE,
    ),
    "the JWT secret": (
        "from api.security import signing_secret\nprint(signing_secret(s))\n",
        SECRET_FILE,
    ),
}


@pytest.mark.parametrize("what", sorted(_SHARED))
def test_processes_starting_together_share_one_whole_secret(tmp_path: Path, what: str) -> None:
    """Every process of a data folder starting at once (a worker, a projector, an API)
    ends up with the same key and JWT secret: none reads a half-written file or makes its
    own."""
    prints, file_name = _SHARED[what]
    script = (
        "import sys, dataclasses, base64\n"
        "from pathlib import Path\n"
        "from closeloop.settings import Settings\n"
        "s = dataclasses.replace(Settings.from_env(), data_dir=Path(sys.argv[1]),\n"
        "    encryption_key=None, jwt_secret=None, production=False)\n"
    ) + prints
    data = tmp_path / "data"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOSELOOP_")}
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(data)],
            cwd=REPO,
            env=clean,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(6)
    ]
    found = set()
    for process in starting:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        found.add(out.strip())
    assert found == {(data / file_name).read_text().strip()}
    assert sorted(p.name for p in data.iterdir()) == [file_name]  # no draft left behind


def test_a_key_from_the_environment_wins_and_old_keys_are_listed(tmp_path: Path) -> None:
    current, old = new_key(), new_key()
    keys = keyring(_settings(tmp_path, encryption_key=current, old_encryption_keys=(old,)))
    assert keys.current == base64.b64decode(current)
    assert keys.old == (base64.b64decode(old),)
    assert not (tmp_path / "data" / KEY_FILE).exists()


# ---- production refusals -----------------------------------------------------------

GOOD_SECRET = "s" * 10 + "0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(
    ("key", "secret", "said"),
    [
        (None, GOOD_SECRET, "CLOSELOOP_ENCRYPTION_KEY is not set"),
        ("change-me-to-a-base64-key", GOOD_SECRET, "CLOSELOOP_ENCRYPTION_KEY is a placeholder"),
        ("Qu5J+NsqqZXSzWthk3btVw==", GOOD_SECRET, "holds 16 bytes, not 32"),
        (base64.b64encode(bytes(32)).decode(), GOOD_SECRET, "is not random"),
        ("KEY", None, "CLOSELOOP_JWT_SECRET is not set"),
        ("KEY", "change-me-to-a-long-random-secret", "CLOSELOOP_JWT_SECRET is a placeholder"),
        ("KEY", "short-but-real-7fQ", "shorter than 32"),
    ],
)
def test_production_refuses_a_missing_placeholder_or_short_key_or_secret(
    tmp_path: Path, key: str | None, secret: str | None, said: str
) -> None:
    if key == "KEY":
        key = new_key()
    settings = _settings(tmp_path, production=True, encryption_key=key, jwt_secret=secret)
    reasons = refusals(settings)
    assert len(reasons) == 1, reasons
    assert said in reasons[0]
    assert "make one with: python -c" in reasons[0]
    assert not (tmp_path / "data" / KEY_FILE).exists()  # never generated in production


def test_production_with_real_secrets_starts(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, production=True, encryption_key=new_key(), jwt_secret=GOOD_SECRET
    )
    assert refusals(settings) == []
    assert refusals(_settings(tmp_path)) == []  # outside production: generated as needed


def _closeloop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOSELOOP_")}
    return subprocess.run(
        [sys.executable, "-m", "closeloop.cli", *args],
        env={**clean, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["api", "worker", "projector", "dev", "bootstrap"])
def test_closeloop_refuses_to_start_with_the_compose_placeholders(
    tmp_path: Path, command: str
) -> None:
    """The compose file's defaults, as a container would get them without an .env."""
    compose = (REPO / "docker-compose.yml").read_text()
    jwt = compose.split("CLOSELOOP_JWT_SECRET:-", 1)[1].split("}", 1)[0]
    key = compose.split("CLOSELOOP_ENCRYPTION_KEY:-", 1)[1].split("}", 1)[0]
    env = {
        "CLOSELOOP_ENV": "production",
        "CLOSELOOP_DATA_DIR": str(tmp_path / "data"),
        "CLOSELOOP_JWT_SECRET": jwt,
        "CLOSELOOP_ENCRYPTION_KEY": key,
    }
    done = _closeloop(env, command)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    assert "CLOSELOOP_ENCRYPTION_KEY is a placeholder; make one with: python -c" in lines[0]
    assert "CLOSELOOP_JWT_SECRET is a placeholder; make one with: python -c" in lines[1]
    assert not (tmp_path / "data").exists()  # nothing written


def test_closeloop_refuses_to_start_in_production_without_a_key(tmp_path: Path) -> None:
    env = {
        "CLOSELOOP_ENV": "production",
        "CLOSELOOP_DATA_DIR": str(tmp_path / "data"),
        "CLOSELOOP_JWT_SECRET": GOOD_SECRET,
    }
    done = _closeloop(env, "api")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "closeloop: CLOSELOOP_ENCRYPTION_KEY is not set (production needs it); make one "
        'with: python -c "import secrets, base64; '
        'print(base64.b64encode(secrets.token_bytes(32)).decode())"'
    )
    assert not (tmp_path / "data").exists()


# ---- the event store ---------------------------------------------------------------


def test_events_are_sealed_in_the_store_and_read_back(database_url: str) -> None:
    keys = Keyring(_key())
    store = RequestStore(env=store_env(database_url, keys))
    try:
        rid = _file(store)
        assert store.get_request(rid).changes[0][1].data["resident_phone"] == PHONE
    finally:
        store.close()
    states = _stored_states(database_url)
    assert states
    for state in states:
        for clear in (NAME, PHONE, DESCRIPTION):
            assert clear.encode() not in state
        assert keys.open(state)  # sealed with the key, not merely mangled


def test_after_a_rotation_events_sealed_with_the_old_key_still_read(database_url: str) -> None:
    old, new = _key(), _key()
    before = RequestStore(env=store_env(database_url, Keyring(old)))
    try:
        early = _file(before)
    finally:
        before.close()
    rotated = RequestStore(env=store_env(database_url, Keyring(new, (old,))))
    try:
        late = _file(rotated)
        assert rotated.get_request(early).changes[0][1].data["resident_name"] == NAME
        assert rotated.get_request(late).changes[0][1].data["resident_name"] == NAME
    finally:
        rotated.close()
    forgotten = RequestStore(env=store_env(database_url, Keyring(new)))
    try:
        with pytest.raises(MapperDeserialisationError, match="neither CLOSELOOP_ENCRYPTION_KEY"):
            forgotten.get_request(early)
    finally:
        forgotten.close()


def test_an_altered_event_is_refused_and_a_clear_one_from_before_is_read(
    database_url: str,
) -> None:
    clear = RequestStore(env=store_env(database_url))  # written before encryption
    try:
        old_request = _file(clear)
    finally:
        clear.close()
    keys = Keyring(_key())
    store = RequestStore(env=store_env(database_url, keys))
    try:
        assert store.get_request(old_request).changes[0][1].data["resident_phone"] == PHONE
        sealed = _file(store)
    finally:
        store.close()
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:  # the last event is the sealed request's filing
            table = f"{STORE_NAME}_events"
            last, state = conn.execute(
                text(f"SELECT id, state FROM {table} ORDER BY id DESC LIMIT 1")
            ).one()
            altered = bytearray(state)
            altered[-3] ^= 0x40
            conn.execute(
                text(f"UPDATE {table} SET state = :state WHERE id = :id"),
                {"state": bytes(altered), "id": last},
            )
    finally:
        engine.dispose()
    store = RequestStore(env=store_env(database_url, keys))
    try:
        with pytest.raises(MapperDeserialisationError, match="altered"):
            store.get_request(sealed)
    finally:
        store.close()


# ---- Temporal payloads -------------------------------------------------------------


async def test_payloads_are_sealed_and_plain_ones_pass_through() -> None:
    keys = Keyring(_key())
    codec = SealingCodec(keys)
    converter = dataclasses.replace(DataConverter.default, payload_codec=codec)
    encoded = await converter.encode([{"resident": {"name": NAME, "phone": PHONE}}])
    (payload,) = encoded
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID] == keys.current_id.encode()
    assert PHONE.encode() not in payload.SerializeToString()
    assert NAME.encode() not in payload.SerializeToString()
    decoded = await converter.decode(encoded, [dict])
    assert decoded == [{"resident": {"name": NAME, "phone": PHONE}}]
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    assert await codec.decode([plain]) == [plain]
    payload.data = payload.data[:-1] + bytes([payload.data[-1] ^ 1])
    with pytest.raises(SealError, match="Temporal payload"):
        await codec.decode([payload])

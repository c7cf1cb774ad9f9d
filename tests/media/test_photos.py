"""Photos with real image files: checked by content, stripped of EXIF, kept by content hash
in both media backends (a folder; an S3-compatible server started here), and uploaded
over HTTP with a refusal that says why and keeps nothing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from api import errors
from api.app import API_PREFIX
from api.limits import BodyLimit
from api.routes import place
from closeloop import media
from closeloop.runtime import prepare
from closeloop.settings import Settings
from tests.media import images

BUCKET = "closeloop-photos"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local S3-compatible server (moto's), started for these tests and waited on until
    it answers."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    port = _free_port()
    log = (tmp_path_factory.mktemp("s3") / "moto.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        while True:  # until it answers (or dies)
            if server.poll() is not None:
                pytest.fail(f"the S3 server stopped at start (exit {server.returncode})")
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _s3(endpoint: str) -> media.S3Media:
    store = media.S3Media(
        BUCKET, endpoint=endpoint, region="us-east-1", access_key="test", secret_key="test"
    )
    with contextlib.suppress(store.client.exceptions.BucketAlreadyOwnedByYou):
        store.client.create_bucket(Bucket=BUCKET)
    return store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> media.MediaStore:
    if request.param == "local":
        return media.LocalMedia(tmp_path / "media")
    return _s3(request.getfixturevalue("s3_endpoint"))


def test_a_jpeg_with_gps_is_kept_without_its_exif(store: media.MediaStore) -> None:
    sent = images.jpeg_with_gps()
    assert images.GPS_IFD in images.exif_of(sent)  # the file does hold a position
    photo = media.check(sent)
    ref = media.save(store, photo)
    assert ref == {"hash": photo.hash, "type": "image/jpeg"}
    kept = store.get(f"photos/{photo.hash}")
    assert kept is not None and kept != sent
    assert hashlib.sha256(kept).hexdigest() == photo.hash  # kept under its content hash
    assert images.exif_of(kept) == {}
    with Image.open(io.BytesIO(kept)) as image:
        assert image.format == "JPEG" and image.size == (640, 480)
        assert "exif" not in image.info
    assert b"PhoneMaker" not in kept
    thumb = store.get(f"thumbs/{photo.hash}")
    assert thumb is not None
    with Image.open(io.BytesIO(thumb)) as image:
        assert max(image.size) == media.THUMB_SIDE and images.exif_of(thumb) == {}
    assert store.kind(f"photos/{photo.hash}") == "image/jpeg"


def test_each_backend_keeps_each_type_and_knows_what_it_does_not_hold(
    store: media.MediaStore,
) -> None:
    for made, kind in ((images.png(), "image/png"), (images.webp(), "image/webp")):
        photo = media.check(made)
        media.save(store, photo)
        assert store.get(f"photos/{photo.hash}") == photo.data
        assert store.kind(f"photos/{photo.hash}") == kind
    absent = "0" * 64
    assert store.get(f"photos/{absent}") is None and store.kind(f"photos/{absent}") is None


def test_the_type_is_read_from_the_content_not_the_name() -> None:
    assert media.check(images.png()).content_type == "image/png"
    for data, code in ((b"not an image at all\n", "photo_type"), (images.gif(), "photo_type")):
        with pytest.raises(media.PhotoRefused) as refused:
            media.check(data)
        assert refused.value.code == code


# ---- over HTTP: the upload endpoint ------------------------------------------------------


@pytest.fixture
def uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Path]]:
    """The upload route on a fresh data folder (its media store: the default folder)."""
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLOSELOOP_MEDIA_BACKEND", raising=False)
    monkeypatch.delenv("CLOSELOOP_MEDIA_DIR", raising=False)
    settings = Settings.from_env()
    engine = prepare(settings)  # the tables, as the app has them
    app = FastAPI()
    errors.install(app)
    app.include_router(place.router, prefix=API_PREFIX)
    app.state.engine = engine
    app.state.settings = settings
    app.state.media = media.media_of(settings)
    app.add_middleware(BodyLimit, larger={f"{API_PREFIX}/photos": 2 * media.MAX_BYTES})
    with TestClient(app) as client:
        yield client, tmp_path / "media"
    engine.dispose()


def _kept(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_png_named_jpg_is_taken_as_png(uploads: tuple[TestClient, Path]) -> None:
    client, folder = uploads
    answer = client.post(
        "/api/v1/photos", files={"file": ("street.jpg", images.png(), "image/jpeg")}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["type"] == "image/png" and (body["width"], body["height"]) == (300, 200)
    kept = folder / "photos" / body["id"][:2] / body["id"]
    assert kept.read_bytes().startswith(b"\x89PNG")
    assert os.stat(folder).st_mode & 0o077 == 0  # the folder is the owner's alone


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("notes.jpg", lambda: b"a text file, not a picture\n", "photo_type"),
        ("anim.jpg", images.gif, "photo_type"),
        ("big.png", images.oversized, "photo_too_large"),
    ],
)
def test_a_photo_that_fails_its_checks_is_refused_and_nothing_is_kept(
    uploads: tuple[TestClient, Path], name: str, make: object, code: str
) -> None:
    client, folder = uploads
    data = make()  # type: ignore[operator]
    answer = client.post("/api/v1/photos", files={"file": (name, data, "image/jpeg")})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code and answer.json()["field"] == "file"
    assert _kept(folder) == []


def test_a_9_mib_file_is_refused_as_too_large(uploads: tuple[TestClient, Path]) -> None:
    client, folder = uploads
    data = images.jpeg_with_gps() + os.urandom(9 * 1024 * 1024)
    answer = client.post("/api/v1/photos", files={"file": ("big.jpg", data, "image/jpeg")})
    assert (answer.status_code, answer.json()["code"]) == (422, "photo_too_large")
    assert _kept(folder) == []

"""Photos: checked by their content, stripped of metadata, and kept by content hash.

A photo is accepted only when Pillow reads it as JPEG, PNG or WebP (whatever its name or
the type its sender claims) and it is at most :data:`MAX_BYTES`. It is then re-encoded in
its own format, which drops EXIF (the GPS position and the device that took it), XMP, ICC
and text chunks, and a thumbnail is made. Both are kept under the SHA-256 of the stripped
image: ``photos/<hash>`` and ``thumbs/<hash>``. Events carry only the hash and the type
(:mod:`domain.place`); the images never enter the event store.

Two backends with one interface: a folder (the default, ``media`` in the data directory)
and an S3-compatible service (``CLOSELOOP_MEDIA_BACKEND=s3``).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from closeloop.files import private_dir
from closeloop.settings import Settings
from domain.place import PHOTO_TYPES

#: The largest photo accepted: 8 MiB.
MAX_BYTES = 8 * 1024 * 1024
#: The largest picture decoded (width x height): bigger ones are refused, not decoded.
MAX_PIXELS = 50_000_000
#: A thumbnail's longest side, in pixels.
THUMB_SIDE = 320

ORIGINAL = "photos"
THUMB = "thumbs"

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
assert set(_FORMATS.values()) == set(PHOTO_TYPES)


class PhotoRefused(ValueError):
    """A photo that fails the checks: ``code`` is the API's reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Photo:
    """A checked photo: the stripped image, its thumbnail, its type and its hash."""

    data: bytes
    thumb: bytes
    content_type: str
    hash: str
    width: int
    height: int

    def ref(self) -> dict[str, str]:
        """As changes carry it (:func:`domain.place.photo_ref`)."""
        return {"hash": self.hash, "type": self.content_type}


def check(data: bytes) -> Photo:
    """``data`` as a :class:`Photo`, or :class:`PhotoRefused` saying why."""
    if len(data) > MAX_BYTES:
        raise PhotoRefused(
            "photo_too_large", f"a photo is at most {MAX_BYTES // (1024 * 1024)} MiB"
        )
    if not data:
        raise PhotoRefused("photo_type", "the photo is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(_FORMATS))
            fmt = image.format or ""
            if image.width * image.height > MAX_PIXELS:
                raise PhotoRefused("photo_too_large", "the picture has too many pixels")
            image.load()
    except PhotoRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused("photo_type", "a photo is a JPEG, PNG or WebP image") from None
    except Exception:  # a damaged file fails in many ways inside the decoders
        raise PhotoRefused("photo_type", "the image is damaged and cannot be read") from None
    if fmt not in _FORMATS:
        raise PhotoRefused("photo_type", "a photo is a JPEG, PNG or WebP image")
    # the picture upright as its EXIF says, then without any of its metadata
    upright = ImageOps.exif_transpose(image) or image
    clean = _plain(upright, fmt)
    stripped = _encode(clean, fmt)
    thumb = clean.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return Photo(
        data=stripped,
        thumb=_encode(thumb, fmt),
        content_type=_FORMATS[fmt],
        hash=hashlib.sha256(stripped).hexdigest(),
        width=clean.width,
        height=clean.height,
    )


def _plain(image: Image.Image, fmt: str) -> Image.Image:
    """The pixels alone, in a mode the format writes (no info, EXIF or profile kept)."""
    mode = image.mode
    if fmt == "JPEG" and mode not in ("L", "RGB"):
        mode = "RGB"
    elif fmt == "WEBP" and mode not in ("RGB", "RGBA"):
        mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
    elif fmt == "PNG" and mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        mode = "RGBA"
    pixels = image.convert(mode) if mode != image.mode else image.copy()
    pixels.info = (
        {"transparency": image.info["transparency"]}
        if mode == "P" and ("transparency" in image.info)
        else {}
    )
    return pixels


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    options: dict[str, Any] = {}
    if fmt == "JPEG":
        options = {"quality": 90, "optimize": True}
    elif fmt == "WEBP":
        options = {"quality": 90}
    elif fmt == "PNG":
        options = {"optimize": True}
    image.save(out, format=fmt, **options)
    return out.getvalue()


class MediaStore(Protocol):
    """Where photos are kept: bytes by key (``photos/<hash>``, ``thumbs/<hash>``)."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def kind(self, key: str) -> str | None:
        """The content type of what ``key`` holds; None when it holds nothing."""
        ...


def key_of(kind: str, digest: str) -> str:
    return f"{kind}/{digest}"


def sniff(head: bytes) -> str | None:
    """The type a stored image's first bytes name (they were checked when stored)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def save(store: MediaStore, photo: Photo) -> dict[str, str]:
    """Keep ``photo`` and its thumbnail (once: the same content has the same key; the
    thumbnail is written first, so a stored original always has one)."""
    original = key_of(ORIGINAL, photo.hash)
    if store.kind(original) is None:
        store.put(key_of(THUMB, photo.hash), photo.thumb, photo.content_type)
        store.put(original, photo.data, photo.content_type)
    return photo.ref()


class LocalMedia:
    """Photos in a folder (mode 0700), one file per key, written whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(root)

    def _path(self, key: str) -> Path:
        kind, _, digest = key.partition("/")
        if kind not in (ORIGINAL, THUMB) or len(digest) != 64 or not digest.isalnum():
            raise ValueError(f"not a media key: {key!r}")
        return self.root / kind / digest[:2] / digest

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def kind(self, key: str) -> str | None:
        try:
            with self._path(key).open("rb") as f:
                return sniff(f.read(12))
        except FileNotFoundError:
            return None


class S3Media:
    """Photos in a bucket of an S3-compatible service (the bucket must exist)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        import boto3  # only where the S3 backend is used

        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = answer["Body"].read()
        return body

    def kind(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        kind: str | None = answer.get("ContentType")
        return kind


def media_of(settings: Settings) -> MediaStore:
    """The media store the settings name."""
    if settings.media_backend == "s3":
        assert settings.media_bucket is not None  # the settings refuse s3 without one
        return S3Media(
            settings.media_bucket,
            endpoint=settings.media_endpoint,
            region=settings.media_region,
            access_key=settings.media_access_key,
            secret_key=settings.media_secret_key,
        )
    return LocalMedia(settings.media_dir or settings.data_dir / "media")

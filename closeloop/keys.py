"""The key that seals residents' data at rest, and the rules for the secrets in production.

Everything a resident tells closeloop (name, phone, description) is kept sealed with
AES-256-GCM: the events in the store, Temporal's payloads, and the sealed copies in the
read models. A sealed value names the key that sealed it (a short id), so a key can be
rotated: the new key seals, and the old ones, listed in ``CLOSELOOP_OLD_ENCRYPTION_KEYS``,
still open what they sealed.

Losing the key loses the residents' data: there is no way around AES.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from closeloop.files import private_dir, write_once
from closeloop.settings import Settings, SettingsError

log = logging.getLogger("closeloop.keys")

#: AES-256.
KEY_BYTES = 32
#: Where a generated key is kept, inside the data directory (mode 0600).
KEY_FILE = "encryption.key"
#: How to make a key, told in every refusal that asks for one.
MAKE_KEY = (
    'python -c "import secrets, base64; print(base64.b64encode(secrets.token_bytes(32)).decode())"'
)
#: How to make a JWT secret.
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
#: The shortest JWT secret production accepts.
MIN_SECRET_CHARS = 32

#: A sealed value: VERSION, the key's id, the nonce, then AES-GCM's ciphertext and tag.
VERSION = b"\x01"
KEY_ID_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = len(VERSION) + KEY_ID_BYTES

#: Words that only a placeholder holds (the compose file's defaults among them).
_PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "placeholder", "example")


class SealError(ValueError):
    """A sealed value that cannot be opened: altered, cut short, or sealed with a key
    this keyring does not hold. Never answered with made-up data."""


class KeySettingError(SettingsError):
    """A key or secret closeloop refuses to start with; the message says how to make one."""


def key_id(key: bytes) -> bytes:
    """A short, stable name for ``key`` that tells nothing about it (a hash prefix)."""
    return hashlib.sha256(b"closeloop key id\x00" + key).digest()[:KEY_ID_BYTES]


def new_key() -> str:
    """A fresh key, as base64 text (what ``CLOSELOOP_ENCRYPTION_KEY`` holds)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _is_placeholder(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _PLACEHOLDER_WORDS)


def parse_key(text: str, name: str = "CLOSELOOP_ENCRYPTION_KEY") -> bytes:
    """The 32 bytes that ``text`` (base64) names; a refusal saying how to make a key."""
    how = f"make one with: {MAKE_KEY}"
    if _is_placeholder(text):
        raise KeySettingError(f"{name} is a placeholder; {how}")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeySettingError(f"{name} is not base64 of {KEY_BYTES} random bytes; {how}") from None
    if len(key) != KEY_BYTES:
        raise KeySettingError(f"{name} holds {len(key)} bytes, not {KEY_BYTES} (AES-256); {how}")
    if len(set(key)) < KEY_BYTES // 4:
        raise KeySettingError(f"{name} is not random (a placeholder?); {how}")
    return key


@dataclass(frozen=True)
class Keyring:
    """The current key, which seals, and the old ones, which still open what they sealed."""

    current: bytes
    old: tuple[bytes, ...] = ()
    _by_id: dict[bytes, bytes] = field(init=False, repr=False, compare=False)
    # each key's cipher, made once (making one costs more than sealing a contact with it)
    _ciphers: dict[bytes, AESGCM] = field(init=False, repr=False, compare=False)
    _header: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in (self.current, *self.old):
            if len(key) != KEY_BYTES:
                raise ValueError(f"a key is {KEY_BYTES} bytes, not {len(key)}")
        by_id = {key_id(key): key for key in self.old}
        by_id[key_id(self.current)] = self.current
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_ciphers", {kid: AESGCM(key) for kid, key in by_id.items()})
        object.__setattr__(self, "_header", VERSION + key_id(self.current))

    def __reduce__(self) -> tuple[Any, ...]:  # the ciphers are made again, not pickled
        return (Keyring, (self.current, self.old))

    def __repr__(self) -> str:  # never the keys themselves, e.g. in a traceback
        return f"Keyring(current={self.current_id}, old={len(self.old)})"

    @property
    def current_id(self) -> str:
        """The current key's id, as hex (what a Temporal payload's metadata names)."""
        return key_id(self.current).hex()

    def seal(self, data: bytes) -> bytes:
        """``data`` encrypted and authenticated with the current key (a fresh nonce each
        time: sealing the same data twice gives different bytes)."""
        header = self._header
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._ciphers[header[len(VERSION) :]]
        return header + nonce + cipher.encrypt(nonce, data, header)

    def open(self, sealed: bytes) -> bytes:
        """The data ``sealed`` holds; :class:`SealError` when it was altered or its key
        is not on this keyring."""
        if len(sealed) < HEADER_BYTES + NONCE_BYTES + TAG_BYTES:
            raise SealError("the sealed data is cut short (altered or not sealed)")
        if sealed[:1] != VERSION:
            raise SealError("the data is not sealed by closeloop (or was altered)")
        header = sealed[:HEADER_BYTES]
        cipher = self._ciphers.get(header[len(VERSION) :])
        if cipher is None:
            raise SealError(
                f"the data was sealed with key {header[len(VERSION) :].hex()}, which is "
                "neither CLOSELOOP_ENCRYPTION_KEY nor one of CLOSELOOP_OLD_ENCRYPTION_KEYS"
            )
        nonce = sealed[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            return cipher.decrypt(nonce, sealed[HEADER_BYTES + NONCE_BYTES :], header)
        except InvalidTag:
            raise SealError("the sealed data was altered: it does not authenticate") from None

    def seal_text(self, text: str) -> str:
        """``text`` sealed, as base64 (for a text column)."""
        return base64.b64encode(self.seal(text.encode("utf-8"))).decode("ascii")

    def open_text(self, sealed: str) -> str:
        """The text that :meth:`seal_text` sealed; :class:`SealError` otherwise."""
        try:
            raw = base64.b64decode(sealed, validate=True)
        except (binascii.Error, ValueError):
            raise SealError("the sealed text is not base64 (altered or not sealed)") from None
        return self.open(raw).decode("utf-8")

    def derive(self, purpose: str) -> bytes:
        """A key for ``purpose`` (e.g. keyed hashes of phone numbers), derived from the
        current key: it changes when the key is rotated."""
        return hmac.new(self.current, b"closeloop:" + purpose.encode(), hashlib.sha256).digest()

    def key_ids(self) -> list[str]:
        """Every key's id, current first (for an operator checking a rotation)."""
        return [self.current_id, *(key_id(key).hex() for key in self.old)]


def is_sealed(data: bytes) -> bool:
    """True when ``data`` looks like :meth:`Keyring.seal`'s output (not that it opens)."""
    return data[:1] == VERSION


def keyring(settings: Settings) -> Keyring:
    """The keyring ``settings`` name.

    ``CLOSELOOP_ENCRYPTION_KEY`` when set; otherwise, outside production, the key in
    ``<data>/encryption.key``, generated on first use (mode 0600; the log says where, never
    what). In production a missing key is a refusal: a key generated on one machine would
    leave every other process unable to read what this one wrote.
    """
    old = tuple(
        parse_key(text, "CLOSELOOP_OLD_ENCRYPTION_KEYS") for text in settings.old_encryption_keys
    )
    if settings.encryption_key:
        return Keyring(parse_key(settings.encryption_key), old)
    if settings.production:
        raise KeySettingError(
            f"CLOSELOOP_ENCRYPTION_KEY is not set (production needs it); make one with: {MAKE_KEY}"
        )
    return Keyring(_stored_key(settings.data_dir), old)


def _stored_key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    private_dir(data_dir)
    if not path.exists():
        _generate(path)
    text = path.read_text(encoding="ascii").strip()
    if not text:
        raise KeySettingError(
            f"{path} is empty; restore it from your backup (deleting it makes a new key, "
            "and everything sealed with the old one is lost)"
        )
    os.chmod(path, 0o600)
    return parse_key(text, str(path))


def _generate(path: Path) -> None:
    """A new key at ``path``, unless another process made one first (see
    :func:`closeloop.files.write_once`)."""
    if not write_once(path, new_key() + "\n"):
        return
    log.warning(
        "generated the key that seals residents' data: %s (mode 0600). Back it up now, "
        "apart from the data: without it the events and the residents' names and phones "
        "cannot be read",
        path,
    )


def refusals(settings: Settings) -> list[str]:
    """Why closeloop must not start with ``settings`` in production (empty: it may).

    Each reason is one sentence that says how to make what is missing. Outside production
    nothing is refused here (a missing key is generated, a missing JWT secret too).
    """
    if not settings.production:
        return []
    reasons = []
    try:
        keyring(settings)
    except KeySettingError as e:
        reasons.append(str(e))
    secret = settings.jwt_secret or ""
    if not secret:
        reasons.append(
            f"CLOSELOOP_JWT_SECRET is not set (production needs it); make one with: {MAKE_SECRET}"
        )
    elif _is_placeholder(secret):
        reasons.append(f"CLOSELOOP_JWT_SECRET is a placeholder; make one with: {MAKE_SECRET}")
    elif len(secret) < MIN_SECRET_CHARS:
        reasons.append(
            f"CLOSELOOP_JWT_SECRET is {len(secret)} characters, shorter than "
            f"{MIN_SECRET_CHARS}; make one with: {MAKE_SECRET}"
        )
    return reasons

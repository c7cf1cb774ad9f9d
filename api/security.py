"""Passwords (argon2) and access tokens (JWT, HS256), and the secret that signs them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from closeloop.files import private_dir, write_once
from closeloop.settings import Settings

ALGORITHM = "HS256"
#: Where a generated signing secret is kept, inside the data directory.
SECRET_FILE = "jwt-secret"

_hasher = PasswordHasher()


class InvalidToken(Exception):
    """A token that is malformed, wrongly signed or expired; the message says which."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, salt and parameters included."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def burn_verification(password: str) -> None:
    """Spend the time of one verification, so an unknown username answers no faster."""
    verify_password(_dummy_hash(), password)


@dataclass(frozen=True)
class AccessToken:
    """What a valid token says: whose it is, and their token version when it was issued
    (a token of an older version was revoked, see :func:`api.roster.token_user`)."""

    user_id: str
    version: int


def create_access_token(subject: str, *, secret: str, minutes: float, version: int = 0) -> str:
    """A signed token naming ``subject`` (a user id) at token ``version``, expiring after
    ``minutes``."""
    now = datetime.now(UTC)
    claims = {"sub": subject, "ver": version, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> AccessToken:
    """What a valid, unexpired token says; :class:`InvalidToken` otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "ver"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token is not valid") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the token names no user")
    version = claims["ver"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidToken("the token is not valid")
    return AccessToken(subject, version)


def signing_secret(settings: Settings) -> str:
    """``settings.jwt_secret``, or the one generated for this data directory."""
    if settings.jwt_secret:
        return settings.jwt_secret
    return _stored_secret(settings.data_dir)


@lru_cache(maxsize=16)
def _stored_secret(data_dir: Path) -> str:
    # Kept in a file, not in memory only, so tokens issued before a restart stay valid;
    # written whole and linked into place, so processes starting together share it.
    path = data_dir / SECRET_FILE
    private_dir(data_dir)
    if not path.exists():
        write_once(path, secrets.token_urlsafe(48) + "\n")
    secret = path.read_text(encoding="ascii").strip()
    if not secret:
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret")
    return secret

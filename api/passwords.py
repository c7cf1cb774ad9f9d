"""The password policy, in one place: every way a password is set goes through it.

A password needs :data:`MIN_LENGTH` characters, must not be one of the 10,000 most common
passwords, and must not contain the username (ignoring case). Length alone lets
``password123`` through; the list and the username check catch what attackers try first.

``common_passwords.txt`` holds the first 10,000 lines (the most frequent first) of the
list Django ships as ``django/contrib/auth/common-passwords.txt.gz`` (BSD licence): Royce
Williams' list of the 20,000 most common passwords of public breach corpora, lowercased
and deduplicated. A password is compared lowercased and stripped, as Django does.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 10
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list, read once per process."""
    with COMMON_PASSWORDS.open(encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problem(password: str, username: str) -> tuple[str, str] | None:
    """Why ``password`` may not be ``username``'s, as ``(code, sentence)``; None if it may.

    The codes are the API's (``password_too_short``, ``password_common``,
    ``password_contains_username``); the sentence says what to do instead.
    """
    if len(password) < MIN_LENGTH:
        return (
            "password_too_short",
            f"a password needs at least {MIN_LENGTH} characters",
        )
    if password.strip().lower() in common_passwords():
        return (
            "password_common",
            "this password is one of the 10,000 most common passwords; choose another",
        )
    name = username.strip().casefold()
    if name and name in password.casefold():
        return (
            "password_contains_username",
            "a password must not contain the username",
        )
    return None

"""Password hashing at the lowest cost in the test processes.

argon2 is slow on purpose: about 0.16 s a hash or a check at the service's cost, and every
stack or site the tests build hashes the ten demo users' passwords and signs each of them
in, seconds a test. In the test processes passwords are still argon2id, hashed and checked
by the same functions (:mod:`api.security`), at the lowest cost argon2 allows. A hash
carries its parameters, so a hash of either cost verifies under the other. The processes
the tests start (``closeloop dev``, the cluster's services) keep the service's cost.
"""

from __future__ import annotations

from argon2 import PasswordHasher

from api import security

#: The service's own hasher, as :mod:`api.security` made it (tests/api/test_password_hashing.py
#: checks its cost).
SERVICE_HASHER = security._hasher
#: argon2id, one pass over 8 KiB in one lane.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def cheap_password_hashing() -> None:
    """Hash and check passwords with :data:`CHEAP_HASHER` in this process."""
    security._hasher = CHEAP_HASHER
    security._dummy_hash.cache_clear()

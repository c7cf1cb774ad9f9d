"""The service hashes passwords with argon2id at argon2's recommended cost (the test
processes use the lowest cost, see tests.hashing): this is where that cost is checked."""

from __future__ import annotations

from argon2 import Type
from argon2.profiles import RFC_9106_LOW_MEMORY

from api import security
from tests.hashing import SERVICE_HASHER


def test_the_service_hashes_with_argon2id_at_the_recommended_cost() -> None:
    assert SERVICE_HASHER.type is Type.ID
    assert SERVICE_HASHER.time_cost >= RFC_9106_LOW_MEMORY.time_cost
    assert SERVICE_HASHER.memory_cost >= RFC_9106_LOW_MEMORY.memory_cost  # KiB
    assert SERVICE_HASHER.parallelism >= 1
    stored = SERVICE_HASHER.hash("correct horse battery staple")
    assert stored.startswith(f"$argon2id$v=19$m={SERVICE_HASHER.memory_cost},")
    # a hash made at the service's cost is checked by the service's function, whatever
    # cost hashes new passwords in this process
    assert security.verify_password(stored, "correct horse battery staple")
    assert not security.verify_password(stored, "correct horse battery stapler")


def test_a_cheap_hash_still_verifies_only_its_password() -> None:
    stored = security.hash_password("e2e-tests-passphrase")
    assert stored.startswith("$argon2id$")
    assert security.verify_password(stored, "e2e-tests-passphrase")
    assert not security.verify_password(stored, "e2e-tests-passphrasE")
    assert not security.verify_password("not a hash", "e2e-tests-passphrase")

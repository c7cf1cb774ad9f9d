"""The event store: an eventsourcing application of ``ResidentRequest`` aggregates."""

from __future__ import annotations

import base64
import logging
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Cipher, IntegrityError
from eventsourcing.utils import Environment
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory

from closeloop.keys import Keyring, parse_key
from domain.aggregate import ConflictingCommand, ResidentRequest, same_change
from domain.state import FILED, Change, RecordedChange

log = logging.getLogger("closeloop.store")

#: The application's name; its events live in the ``closeloop_events`` table.
STORE_NAME = "closeloop"


#: The environment variable (in eventsourcing's env) naming the old keys, comma-separated.
OLD_KEYS = "CIPHER_OLD_KEYS"


def store_env(database_url: str, keys: Keyring | None = None) -> dict[str, str]:
    """eventsourcing's environment for eventsourcing-sqlalchemy on ``database_url``.

    With ``keys``, every event's state is sealed with the current key (the topic and the
    request's id stay readable: they name no resident). Every closeloop process passes
    them; only tests and benchmarks that never meet a resident leave them out.
    """
    env = {
        "PERSISTENCE_MODULE": f"{__name__}:{QuietFactory.__qualname__}",
        "SQLALCHEMY_URL": database_url,
        "CREATE_TABLE": "yes",
    }
    if keys is not None:
        env["CIPHER_TOPIC"] = f"{__name__}:{EventCipher.__qualname__}"
        env["CIPHER_KEY"] = base64.b64encode(keys.current).decode("ascii")
        env[OLD_KEYS] = ",".join(base64.b64encode(key).decode("ascii") for key in keys.old)
        # eventsourcing looks for CLOSELOOP_CIPHER_KEY before CIPHER_KEY: these win.
        for name in ("CIPHER_TOPIC", "CIPHER_KEY", OLD_KEYS):
            env[f"{STORE_NAME.upper()}_{name}"] = env[name]
    return env


class _QuietDatastore(SQLAlchemyDatastore):
    """eventsourcing-sqlalchemy's datastore on an engine that leaves a statement's
    parameters out of its errors (and so out of the logs): they may be a resident's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(hide_parameters=True, **kwargs)


class QuietFactory(SQLAlchemyFactory):
    """eventsourcing-sqlalchemy, on :class:`_QuietDatastore`."""

    datastore_class = _QuietDatastore


class EventCipher(Cipher):
    """eventsourcing's cipher on closeloop's :class:`Keyring`: seals with the current key
    and opens with whichever key (current or old) sealed the event, so a key can be
    rotated without rewriting the store.

    An event stored before encryption was turned on (its state is clear JSON, which
    starts with ``{``; a sealed one never does) is read as it is: upgrading needs no
    migration, and such events stay clear until the store is rebuilt by hand.
    """

    def __init__(self, environment: Environment) -> None:
        current = environment.get("CIPHER_KEY")
        if not current:
            raise OSError("CIPHER_KEY is not in the store's environment")
        old = environment.get(OLD_KEYS) or ""
        self.keys = Keyring(
            parse_key(current, "the store's key"),
            tuple(parse_key(k, "an old key") for k in old.split(",") if k.strip()),
        )

    def encrypt(self, plaintext: bytes) -> bytes:
        return self.keys.seal(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if ciphertext[:1] == b"{":
            return ciphertext  # written before encryption was turned on
        return self.keys.open(ciphertext)


class StoreBehind(Exception):
    """The workflow holds changes the store does not: they can only come from the store,
    so this is a defect to look into, never something to paper over."""


#: How many times an append is retried when another writer took the same version.
_APPEND_ATTEMPTS = 5


class RequestStore(Application[UUID]):
    """Appends each request's changes; the only writer is the request's workflow."""

    name = STORE_NAME

    def record(self, request_id: UUID, command_id: str, change: Change) -> bool:
        """Append ``change`` unless ``command_id`` was recorded before; True when appended."""
        if change.type == FILED:
            try:
                self.repository.get(request_id)
                return False  # filed before: a retried intake
            except AggregateNotFoundError:
                request = ResidentRequest.file(command_id, change)
        else:
            request = self.get_request(request_id)
            if not request.record(command_id, change):
                return False
        self.save(request)
        return True

    def settle(
        self, request_id: UUID, position: int, command_id: str, change: Change | None
    ) -> list[RecordedChange]:
        """Append ``change`` as the request's change number ``position`` (0 is the filing),
        unless the store already holds a change there; return what the store holds from
        ``position`` on.

        The workflow applies exactly what this returns, so the store and the workflow
        hold the same changes whatever happened before: when a workflow task was lost
        after its append and ran again deciding something else (a later time, another
        order of updates and timers), the store's version wins and the workflow adopts
        it. A repeated command id with different content is refused (logged loudly),
        never ignored: the store keeps its first version. With ``change`` None nothing is
        appended: the answer is what the store holds from ``position`` on (maybe nothing).
        """
        for _ in range(_APPEND_ATTEMPTS):
            try:
                request: ResidentRequest = self.repository.get(request_id)
            except AggregateNotFoundError:
                request = None  # type: ignore[assignment]
            held = len(request.changes) if request is not None else 0
            if held > position:
                stored = [RecordedChange(c, ch) for c, ch in request.changes[position:]]
                if change is not None:
                    self._warn_adopted(request_id, position, command_id, change, stored)
                return stored
            if change is None and held == position:
                return []
            if held < position or change is None:
                raise StoreBehind(
                    f"request {request_id}: the workflow is at change {position} but the "
                    f"store holds {held}"
                )
            if request is None:
                if change.type != FILED or position != 0:
                    raise StoreBehind(f"request {request_id}: not in the store")
                request = ResidentRequest.file(command_id, change)
            else:
                earlier = request.recorded(command_id)
                if earlier is not None:
                    raise ConflictingCommand(command_id, earlier, change)
                request.record(command_id, change)
            try:
                self.save(request)
            except IntegrityError:
                continue  # another writer took this version: read again
            return [RecordedChange(command_id, change)]
        raise RuntimeError(f"request {request_id}: could not append after {_APPEND_ATTEMPTS} tries")

    @staticmethod
    def _warn_adopted(
        request_id: UUID,
        position: int,
        command_id: str,
        change: Change,
        stored: list[RecordedChange],
    ) -> None:
        first = stored[0]
        if first.command_id == command_id and same_change(first.change, change):
            return  # a plain retry of an append that went through
        if first.command_id == command_id:
            log.warning(
                "request %s: command %s repeated with different content (%s at %s); the "
                "store keeps its first version (%s at %s) and the workflow adopts it",
                request_id, command_id, change.type, change.at.isoformat(),
                first.change.type, first.change.at.isoformat(),
            )  # fmt: skip
        else:
            log.warning(
                "request %s: change %d is already %s by command %s; the workflow adopts "
                "it instead of %s by %s",
                request_id, position, first.change.type, first.command_id,
                change.type, command_id,
            )  # fmt: skip

    def get_request(self, request_id: UUID) -> ResidentRequest:
        request: ResidentRequest = self.repository.get(request_id)
        return request

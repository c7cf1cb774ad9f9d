"""Temporal payloads sealed with closeloop's key: workflow inputs, updates, queries' and
activities' results, memos and failures' details reach Temporal's database as ciphertext.

The codec runs in the client (the API, the worker, ``closeloop check``), never inside the
workflow sandbox: workflows see plain values. Temporal's web UI shows the sealed bytes,
which is right: the UI is not a place to read residents' data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from closeloop.keys import Keyring, SealError

#: The encoding of a sealed payload (its data: the original payload, serialised, sealed).
ENCODING = b"binary/encrypted"
#: The metadata naming the key that sealed it (hex), for an operator reading a history.
KEY_ID = "encryption-key-id"


class SealingCodec(PayloadCodec):
    """Seals every payload with the keyring's current key; opens sealed ones with the
    key that sealed them. A payload that is not sealed (one written before encryption
    was turned on, e.g. the golden histories' or an open request's older events) is
    passed on as it is."""

    def __init__(self, keys: Keyring) -> None:
        self.keys = keys

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": ENCODING, KEY_ID: self.keys.current_id.encode("ascii")},
                data=self.keys.seal(payload.SerializeToString()),
            )
            for payload in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)
                continue
            try:
                plain = self.keys.open(payload.data)
            except SealError as e:
                raise SealError(f"a Temporal payload cannot be opened: {e}") from None
            inner = Payload()
            inner.ParseFromString(plain)
            opened.append(inner)
        return opened


def data_converter(keys: Keyring | None) -> DataConverter:
    """Temporal's default converter, sealing payloads with ``keys`` (plain without).

    Failures' messages stay clear, so that the worker's log and the UI tell why a task
    failed: closeloop's failures name the request and the command, never what a resident
    wrote (see ``domain.aggregate.ConflictingCommand``).
    """
    if keys is None:
        return DataConverter.default
    return dataclasses.replace(DataConverter.default, payload_codec=SealingCodec(keys))

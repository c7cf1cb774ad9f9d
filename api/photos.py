"""The media store as the routes use it, and photo ids turned into the references that
changes carry (:mod:`domain.place`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import Refusal
from closeloop import media
from domain.place import MAX_PHOTOS

_HEX = frozenset("0123456789abcdef")


def media_of(http: Request) -> media.MediaStore:
    store: media.MediaStore = http.app.state.media
    return store


MediaDep = Annotated[media.MediaStore, Depends(media_of)]


def photo_refs(store: media.MediaStore, ids: list[str]) -> list[dict[str, str]]:
    """The photos ``ids`` name, as changes carry them; 422 ``too_many_photos`` over
    :data:`~domain.place.MAX_PHOTOS`, ``photo_unknown`` for an id never uploaded."""
    if len(ids) > MAX_PHOTOS:
        raise Refusal(
            422,
            "too_many_photos",
            f"at most {MAX_PHOTOS} photos at a time, not {len(ids)}",
            field="photos",
            params={"max": MAX_PHOTOS},
        )
    refs: list[dict[str, str]] = []
    for photo_id in ids:
        kind = None
        if len(photo_id) == 64 and set(photo_id) <= _HEX:
            kind = store.kind(media.key_of(media.ORIGINAL, photo_id))
        if kind is None:
            raise Refusal(
                422,
                "photo_unknown",
                "no photo has this id; upload it first with POST /api/v1/photos",
                field="photos",
            )
        if all(ref["hash"] != photo_id for ref in refs):
            refs.append({"hash": photo_id, "type": kind})
    return refs

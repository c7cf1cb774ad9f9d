"""Where a request is, and its photos: uploads, the location's correction, reading photos.

Photos are uploaded one at a time (``POST /photos``, multipart, the file in ``file``),
checked by content and stripped of their metadata (:mod:`closeloop.media`); the answer's
``id`` (the photo's content hash) is then listed in a filing's, a progress note's or a
resolve's ``photos``. A photo that fails its checks is refused with 422 and nothing is
kept. An uploaded photo is shown to nobody until a request lists it; then it is shown to
whoever may read that request (domain.privacy), and to its resident through the tracking
link.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, UploadFile, status
from starlette.concurrency import run_in_threadpool

from api import intake_limits, privacy
from api.deps import CurrentUser, EngineDep, Principal, SettingsDep, client_address, require_roles
from api.errors import Refusal, request_not_found
from api.intake_limits import Rule, TooManyFilings
from api.photos import MediaDep
from api.request_schemas import LocationIn
from api.roster import Role
from api.routes.requests import Consistent, IdempotencyKey, act, actor_of, is_uuid, read_view
from api.routes.track import SECRET_LINK_HEADERS, tracked_request
from closeloop import media
from domain.privacy import Sight
from projections import queries
from workflows.messages import LocateCommand

router = APIRouter(tags=["place"])

#: Staff who correct a request's location: handlers (the workflow checks that they are at
#: its current level), dispatchers of its community or town, supervisors.
Locator = Annotated[
    Principal, Depends(require_roles(Role.HANDLER, Role.DISPATCHER, Role.SUPERVISOR))
]

#: Photos an anonymous client may upload per minute from one address.
UPLOADS_PER_MINUTE = 20
#: A photo's answer is never cached by a shared cache, nor guessed at by the browser.
PHOTO_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


def photo_refusal(error: media.PhotoRefused) -> Refusal:
    return Refusal(422, error.code, error.message, field="file")


@router.post("/photos", status_code=status.HTTP_201_CREATED)
async def upload_photo(
    file: UploadFile,
    http: Request,
    store: MediaDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Upload one photo (multipart, the image in ``file``; anyone): JPEG, PNG or WebP by
    its content, at most 8 MiB. It is kept without its metadata (EXIF: GPS, device) with a
    thumbnail; ``id`` names it in a filing's, a progress note's or a resolve's
    ``photos``."""
    data = await file.read(media.MAX_BYTES + 1)
    await file.close()
    address = client_address(http) or "unknown"
    rule = Rule(max(settings.intake_per_address, 1) * UPLOADS_PER_MINUTE, timedelta(minutes=1))
    try:
        await run_in_threadpool(
            intake_limits.admit, http.app.state.engine, [("address", f"photo:{address}", rule)]
        )
    except TooManyFilings as e:
        raise e.refusal() from None
    try:
        photo = await run_in_threadpool(media.check, data)
    except media.PhotoRefused as e:
        raise photo_refusal(e) from None
    await run_in_threadpool(media.save, store, photo)
    return {
        "id": photo.hash,
        "type": photo.content_type,
        "width": photo.width,
        "height": photo.height,
        "size": len(photo.data),
    }


@router.post("/requests/{request_id}/location")
async def correct_location(
    http: Request, request_id: str, body: LocationIn, user: Locator,
    consistent: Consistent = False, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:  # fmt: skip
    """Correct where a request is (a handler at its current level, a dispatcher of its
    community or town, a supervisor), with a reason; on the timeline as
    ``LocationCorrected``."""
    if user.role is Role.DISPATCHER:
        view = await read_view(http.app.state.engine, request_id) if is_uuid(request_id) else None
        if view is None or privacy.sight_of(view, user) is Sight.NONE:
            raise request_not_found()
    cmd = LocateCommand(
        actor_of(user), body.lat, body.long, body.address, body.building, body.reason
    )
    return await act(http, request_id, "locate", cmd, user, consistent, idempotency_key)


def _photo_answer(
    store: media.MediaStore, photos: list[dict[str, Any]], photo_id: str, size: str
) -> Response:
    ref = next((p for p in photos if p.get("hash") == photo_id), None)
    kind = media.THUMB if size == "thumb" else media.ORIGINAL
    data = store.get(media.key_of(kind, photo_id)) if ref is not None else None
    if ref is None or data is None:
        raise Refusal(404, "photo_not_found", "this request has no such photo")
    return Response(content=data, media_type=ref["type"], headers=PHOTO_HEADERS)


@router.get("/requests/{request_id}/photos/{photo_id}", response_class=Response)
async def request_photo(
    request_id: str,
    photo_id: str,
    user: CurrentUser,
    engine: EngineDep,
    store: MediaDep,
    size: str = "original",
) -> Response:
    """A photo of a request (``size=thumb``: its thumbnail), for staff who may read the
    request (domain.privacy); 404 for the others."""
    view = await read_view(engine, request_id) if is_uuid(request_id) else None
    if view is None or privacy.sight_of(view, user) is Sight.NONE:
        raise request_not_found()
    return await run_in_threadpool(_photo_answer, store, view["photos"], photo_id, size)


@router.get("/track/{token}/photos/{photo_id}", response_class=Response)
async def tracked_photo(
    token: str, photo_id: str, engine: EngineDep, store: MediaDep, size: str = "original"
) -> Response:
    """A photo of the request a tracking link names, for its resident (no sign-in)."""

    def read() -> Response:
        request_id = tracked_request(engine, token)
        view = None
        if request_id is not None:
            with engine.connect() as conn:
                view = queries.get_request(conn, request_id)
        if view is None:
            raise request_not_found()
        answer = _photo_answer(store, view["photos"], photo_id, size)
        answer.headers.update(SECRET_LINK_HEADERS)
        answer.headers.update(PHOTO_HEADERS)
        return answer

    return await run_in_threadpool(read)

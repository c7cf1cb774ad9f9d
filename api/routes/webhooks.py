"""Webhook subscriptions (admins): outside systems that are sent the events of the types
they subscribed to (:mod:`notify.webhooks`). The secret is written once and never read
back; a refusal (the URL, the events, the secret) is a 422 naming the field, and writes
nothing."""

from __future__ import annotations

from typing import Any

from fastapi import Response, status
from fastapi.routing import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.bounds import Limit
from api.deps import AdminUser, EngineDep, SealerDep, SettingsDep
from api.errors import Refusal
from api.text import Text, refuse
from notify import webhooks
from notify.webhooks import WebhookError

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookIn(BaseModel):
    """A new subscription; the rules of each field are in :mod:`notify.webhooks`. The URL
    and the event types are read without the spaces around them; the secret as it is sent
    (the receiver signs with the same characters)."""

    model_config = ConfigDict(extra="forbid")

    url: Text = Field(description="http(s) URL the events are POSTed to")
    events: list[Text] = Field(description='event types, or ["*"] for every type')
    secret: Text = Field(description="the HMAC-SHA256 key (16 to 200 characters)")
    include_pii: bool = Field(
        default=False, description="send the resident's name and phone in filings"
    )


def refusal(error: WebhookError) -> Refusal:
    return Refusal(
        error.status, error.code, str(error), field=error.field, params=error.params or None
    )


def _known(subscription_id: str, engine: EngineDep) -> webhooks.Subscription:
    refuse(subscription_id, "path", "id")
    found = webhooks.get_subscription(subscription_id, db=engine)
    if found is None:
        raise refusal(webhooks.UnknownSubscription(subscription_id))
    return found


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(
    body: WebhookIn,
    admin: AdminUser,
    engine: EngineDep,
    sealer: SealerDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Subscribe a URL to event types; answers the subscription, without its secret."""
    try:
        made = webhooks.create_subscription(
            body.url.strip(),
            [e.strip() for e in body.events],
            body.secret,
            body.include_pii,
            admin.username,
            db=engine,
            sealer=sealer,
            allow_private=settings.webhook_allow_private,
        )
    except WebhookError as error:
        raise refusal(error) from None
    return made.json()


@router.get("")
def list_webhooks(
    admin: AdminUser, engine: EngineDep, include_deleted: bool = False
) -> list[dict[str, Any]]:
    """The subscriptions, oldest first (deleted ones too with ``include_deleted=true``)."""
    found = webhooks.list_subscriptions(db=engine, include_deleted=include_deleted)
    return [s.json() for s in found]


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(subscription_id: str, admin: AdminUser, engine: EngineDep) -> Response:
    """Stop sending to the subscription (its past deliveries stay listed)."""
    _known(subscription_id, engine)
    try:
        webhooks.delete_subscription(subscription_id, db=engine)
    except WebhookError as error:
        raise refusal(error) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{subscription_id}/deliveries")
def list_deliveries(
    subscription_id: str, admin: AdminUser, engine: EngineDep, limit: Limit = 50
) -> list[dict[str, Any]]:
    """The latest deliveries to the subscription, newest first, with their attempts."""
    _known(subscription_id, engine)
    return [d.json() for d in webhooks.deliveries(subscription_id, db=engine, limit=limit)]

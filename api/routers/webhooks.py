"""Webhook subscriptions, their secrets and their delivery log (``webhooks:manage``)."""

import uuid
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Query, Response

from api.auth.dependencies import WebhooksManager
from api.deps import SessionDep, SettingsDep
from api.models.events import DeliveryStatus
from api.routers.routing import assembled, resource_routers
from api.schemas.webhooks import (
    DeliveryDetail,
    DeliveryPage,
    DeliveryPublic,
    SecretRotation,
    WebhookCreate,
    WebhookList,
    WebhookPublic,
    WebhookUpdate,
    WebhookWithSecret,
)
from api.services import webhooks as service

# The service leaves empty fields out of its bodies; so do the models that check them.
router, webhook = resource_routers("webhooks", "/{webhook_id}", not_found="No such webhook")


class OnWebhook(NamedTuple):
    """What the routes of one webhook (``/{webhook_id}…``) give most service functions first,
    in their order: ``service.get(*on_webhook)``."""

    session: SessionDep
    principal: WebhooksManager
    webhook_id: uuid.UUID


class OnWebhookWithSettings(NamedTuple):
    """``OnWebhook`` for the service functions that take the settings too (to check a URL, to
    make a secret)."""

    session: SessionDep
    settings: SettingsDep
    principal: WebhooksManager
    webhook_id: uuid.UUID


class OnDelivery(NamedTuple):
    """The same for one delivery of the webhook (``/{webhook_id}/deliveries/{delivery_id}…``)."""

    session: SessionDep
    principal: WebhooksManager
    webhook_id: uuid.UUID
    delivery_id: uuid.UUID


OnWebhookDep = Annotated[OnWebhook, Depends(assembled(OnWebhook))]
OnWebhookWithSettingsDep = Annotated[
    OnWebhookWithSettings, Depends(assembled(OnWebhookWithSettings))
]
OnDeliveryDep = Annotated[OnDelivery, Depends(assembled(OnDelivery))]


async def _not_stored(response: Response) -> None:
    """A response that shows a signing secret: no cache may keep it."""
    response.headers["Cache-Control"] = "no-store"


SHOWS_SECRET = [Depends(_not_stored)]


@router.post(
    "",
    status_code=201,
    summary="Subscribe an endpoint (the signing secret is in this response only)",
    response_model=WebhookWithSecret,
    responses={
        409: {"description": "The organisation has the most webhooks it may have"},
        422: {"description": "The URL is refused (scheme, or a non-public address)"},
    },
    dependencies=SHOWS_SECRET,
)
async def create_webhook(
    body: WebhookCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: WebhooksManager,
) -> dict[str, Any]:
    created = await service.create(session, settings, principal, body)
    response.headers["Location"] = f"/v1/webhooks/{created['id']}"
    return created


@router.get("", summary="Your organisation's webhooks", response_model=WebhookList)
async def list_webhooks(session: SessionDep, principal: WebhooksManager) -> dict[str, Any]:
    return await service.listing(session, principal)


@webhook.get("", summary="One webhook", response_model=WebhookPublic)
async def get_webhook(on_webhook: OnWebhookDep) -> dict[str, Any]:
    return await service.get(*on_webhook)


@webhook.patch(
    "", summary="Change the URL or event types; enable or disable", response_model=WebhookPublic
)
async def update_webhook(
    body: WebhookUpdate, on_webhook: OnWebhookWithSettingsDep
) -> dict[str, Any]:
    return await service.update(*on_webhook, body)


@webhook.delete("", status_code=204, summary="Delete the webhook and its delivery log")
async def delete_webhook(on_webhook: OnWebhookDep) -> None:
    await service.delete(*on_webhook)


@webhook.post(
    "/secret",
    summary="Rotate the signing secret (the old one still signs during the overlap)",
    response_model=WebhookWithSecret,
    dependencies=SHOWS_SECRET,
)
async def rotate_secret(
    on_webhook: OnWebhookWithSettingsDep, body: SecretRotation | None = None
) -> dict[str, Any]:
    return await service.rotate_secret(*on_webhook, body or SecretRotation())


@webhook.get(
    "/deliveries",
    summary="The delivery log, newest first: attempts, status codes, latencies",
    response_model=DeliveryPage,
)
async def list_deliveries(
    on_webhook: OnWebhookDep,
    status_: Annotated[list[DeliveryStatus] | None, Query(alias="status", max_length=3)] = None,
    cursor: Annotated[str | None, Query(max_length=120)] = None,
    limit: Annotated[int, Query(ge=1, le=service.DELIVERY_LIMIT)] = 20,
) -> dict[str, Any]:
    return await service.deliveries(*on_webhook, statuses=status_ or [], cursor=cursor, limit=limit)


@webhook.get(
    "/deliveries/{delivery_id}",
    summary="One delivery, with every attempt and the message sent",
    response_model=DeliveryDetail,
)
async def get_delivery(on_delivery: OnDeliveryDep) -> dict[str, Any]:
    return await service.delivery(*on_delivery)


@webhook.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Send a delivery again now (same webhook-id), with a fresh retry schedule",
    response_model=DeliveryPublic,
)
async def redeliver(on_delivery: OnDeliveryDep) -> dict[str, Any]:
    return await service.redeliver(*on_delivery)


router.include_router(webhook)

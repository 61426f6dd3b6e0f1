"""Request and response contracts of webhook subscriptions and their delivery log."""

import uuid
from typing import Annotated

from pydantic import AfterValidator, Field

from api.models.events import DeliveryStatus, EventType
from api.net import MAXIMUM_URL_LENGTH
from api.schemas.common import CursorMeta, DateTime, Flag, Number, Public, RequestBody, unique
from api.schemas.events import EventMessage

Url = Annotated[str, Field(min_length=8, max_length=MAXIMUM_URL_LENGTH)]
EventTypes = Annotated[
    list[EventType],
    Field(max_length=len(EventType), description="The event types to deliver; empty: all."),
    AfterValidator(unique),
]
Description = Annotated[str | None, Field(max_length=200)]


class WebhookCreate(RequestBody):
    url: Annotated[
        Url,
        Field(description="Where deliveries are POSTed: https:// (http:// outside production)."),
    ]
    event_types: EventTypes = Field(default_factory=list)
    description: Description = None
    enabled: Flag = True


class WebhookUpdate(RequestBody):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description = None
    enabled: Flag | None = None


class SecretRotation(RequestBody):
    overlap_hours: Annotated[
        Number | None,
        Field(
            ge=0,
            le=24 * 30,
            description="How long deliveries are also signed with the old secret; default "
            "RELAY_WEBHOOK_SECRET_OVERLAP_HOURS.",
        ),
    ] = None


# -- responses ------------------------------------------------------------------------------------


class WebhookPublic(Public):
    id: uuid.UUID
    url: str
    description: str | None = None
    event_types: list[EventType] = Field(description="The event types delivered; empty: all.")
    enabled: bool
    disabled_reason: str | None = Field(
        default=None,
        description="Why deliveries stopped: by_owner, or Relay's reason after failing long.",
    )
    failing_since: DateTime | None = None
    previous_secret_expires_at: DateTime | None = Field(
        default=None, description="Until then, deliveries are also signed with the old secret."
    )
    created_at: DateTime
    updated_at: DateTime


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(
        description="The signing secret (Standard Webhooks, whsec_...): shown in this response "
        "only, keep it now."
    )


class WebhookListMeta(Public):
    count: int


class WebhookList(Public):
    data: list[WebhookPublic]
    meta: WebhookListMeta


class DeliveryPublic(Public):
    id: uuid.UUID
    webhook_id: str = Field(
        pattern=r"^evt_[0-9a-f]{32}$",
        description="The `webhook-id` header of the delivery: the event's id.",
    )
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    created_at: DateTime
    next_attempt_at: DateTime | None = Field(default=None, description="While pending.")
    last_attempt_at: DateTime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: DateTime | None = None


class AttemptPublic(Public):
    number: int
    at: DateTime
    status_code: int | None = None
    latency_ms: int
    error: str | None = None


class DeliveryDetail(DeliveryPublic):
    message: EventMessage = Field(description="The message delivered (its body).")
    attempt_log: list[AttemptPublic]


class DeliveryPage(Public):
    data: list[DeliveryPublic]
    meta: CursorMeta

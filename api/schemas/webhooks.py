"""Request contracts of webhook subscriptions."""

from typing import Annotated

from pydantic import AfterValidator, Field

from api.models.events import EventType
from api.net import MAXIMUM_URL_LENGTH
from api.schemas.common import Flag, Number, RequestBody, unique

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

"""The event feed's and webhooks' messages (Standard Webhooks' payload: ``type``, ``timestamp``,
``data``, with the event's id): ids, codes and times, never a person's data."""

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import Field

from api.models.events import EventType
from api.models.referral import Priority, ReferralStatus
from api.schemas.common import DateTime, DocumentedAs, Public


class ReferralEventData(Public):
    """referral.*: both parties hear of each step; fetch the referral for what you may see."""

    referral_id: uuid.UUID
    sequence: int = Field(description="The step's number in GET /v1/referrals/{id}/events.")
    status: ReferralStatus
    priority: Priority
    from_organization_id: uuid.UUID
    to_organization_id: uuid.UUID


class ConsentEventData(Public):
    """consent.*: the organisation that recorded it hears of it; on withdrawal, so do the
    receivers of referrals resting on it (they must stop using the data)."""

    consent_id: uuid.UUID
    state: str = Field(examples=["recorded", "withdrawn"])


class DirectoryEventData(Public):
    """directory.changed: a service, location or organisation was created or changed."""

    resource: str = Field(examples=["service", "location", "organization"])
    id: uuid.UUID
    organization_id: uuid.UUID
    action: str = Field(examples=["create", "update"])


class DirectoryStaleData(Public):
    """directory.stale: one of your services was not confirmed for too long; confirm it
    (POST /v1/services/{id}/confirm) or correct it. Sent once, until the next confirmation."""

    resource: str = Field(examples=["service"])
    id: uuid.UUID
    organization_id: uuid.UUID
    assured_date: date | None = Field(
        description="When it was last confirmed; null: never since it was listed."
    )


class WebhookEventData(Public):
    """webhook.disabled: Relay stopped delivering to one of your webhooks."""

    webhook_id: uuid.UUID
    reason: str


EventData = (
    ReferralEventData
    | ConsentEventData
    | DirectoryEventData
    | DirectoryStaleData
    | WebhookEventData
)


class EventMessage(Public):
    id: str = Field(
        pattern=r"^evt_[0-9a-f]{32}$",
        description="The event's id: the `webhook-id` of its deliveries, to deduplicate on.",
    )
    type: EventType
    timestamp: DateTime
    # Kept as JSON since the event was written, perhaps by an earlier version: passed on as it
    # is stored, never refused on the way out.
    data: Annotated[dict[str, Any], DocumentedAs(EventData)] = Field(
        description="What the event is about, by type (ids and codes)."
    )


class EventFeedMeta(Public):
    count: int
    limit: int
    next_cursor: str = Field(description="Pass it as `after` to read on from here.")
    more: bool = Field(description="true: more events may be waiting; ask again at once.")


class EventPage(Public):
    data: list[EventMessage]
    meta: EventFeedMeta

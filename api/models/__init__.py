"""SQLModel table classes. Importing this package registers every table on the metadata."""

from api.models.audit import AuditChain, AuditCheckpoint, AuditEvent, AuditPending
from api.models.base import metadata
from api.models.directory import (
    Address,
    AdminArea,
    Attribute,
    Language,
    Location,
    Metadata,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
    Unit,
)
from api.models.events import (
    OutboxEvent,
    OutboxHorizon,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from api.models.oauth import OAuthAssertion, OAuthClient, OAuthToken
from api.models.organization import Organization
from api.models.referral import (
    Consent,
    IdempotencyRecord,
    Referral,
    ReferralEvent,
    ReferralKey,
)
from api.models.worker import WorkerJob

__all__ = [
    "Address",
    "AdminArea",
    "Attribute",
    "AuditChain",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditPending",
    "Consent",
    "IdempotencyRecord",
    "Language",
    "Location",
    "Metadata",
    "OAuthAssertion",
    "OAuthClient",
    "OAuthToken",
    "Organization",
    "OutboxEvent",
    "OutboxHorizon",
    "Phone",
    "Referral",
    "ReferralEvent",
    "ReferralKey",
    "Schedule",
    "Service",
    "ServiceArea",
    "ServiceAtLocation",
    "ServiceCapacity",
    "Taxonomy",
    "TaxonomyTerm",
    "Unit",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "WorkerJob",
    "metadata",
]

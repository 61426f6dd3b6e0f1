"""FHIR R4 documents as Relay sends them (a referral's export, the audit trail as AuditEvents):
the Bundle's own fields, and each resource's type and id; the resources themselves are FHIR's
(https://hl7.org/fhir/R4), validated against FHIR's definitions in the tests."""

from typing import Literal

from pydantic import Field

from api.schemas.common import DateTime, Open, Public, omitted_when_absent


class FhirResource(Open):
    """A FHIR R4 resource: Task, ServiceRequest, Consent, Patient, Organization, AuditEvent."""

    resourceType: str = Field(examples=["Task"])
    id: str


class FhirBundleEntry(Public):
    fullUrl: str = Field(examples=["urn:uuid:0b0e7a6e-7d3c-4a53-9c41-1c1b3c3f6a10"])
    resource: FhirResource


class FhirBundleLink(Public):
    relation: str = Field(examples=["next"])
    url: str


class FhirBundle(Public):
    resourceType: Literal["Bundle"]
    id: str | None = omitted_when_absent()
    type: Literal["collection", "searchset"]
    timestamp: DateTime | None = omitted_when_absent()
    total: int | None = omitted_when_absent()
    entry: list[FhirBundleEntry]
    link: list[FhirBundleLink] | None = omitted_when_absent(
        description="searchset: the next page, when there is one."
    )

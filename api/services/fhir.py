"""A referral as a FHIR R4 Bundle (``collection``): Task (the closed loop), ServiceRequest (what is
asked, of whom), Consent (the basis), a minimal Patient and the two Organizations.

Built from what the caller may see of the referral (``api.services.referrals``): the receiver's
bundle carries the sharing profile's fields only, and none once the referral is closed, the
consent withdrawn or the data erased. The Patient's id is a stand-in made for the referral (never
the sender's case reference). Codes: FHIR Task status and request priority; Relay's need codes
and GBVIMS incident types under Relay's own code systems.
"""

import uuid
from datetime import datetime
from typing import Any

from api.models.organization import Organization
from api.models.referral import Consent, ReferralStatus
from api.services.referrals.statuses import STATUSES

# Relay's own code systems: URNs, the same on every installation (not addresses to fetch).
RELAY = "urn:relay"
NEEDS_SYSTEM = f"{RELAY}:codesystem:referral-needs"
GBV_SYSTEM = f"{RELAY}:codesystem:gbvims-incident-type"
REASON_SYSTEM = f"{RELAY}:codesystem:referral-status-reason"
OUTCOME_SYSTEM = f"{RELAY}:codesystem:referral-outcome"
PURPOSE_SYSTEM = f"{RELAY}:codesystem:consent-purpose"
PATIENT_NAMESPACE = uuid.UUID("3a3c6a48-1a48-4b57-9e0e-3b1f8c1e6f21")


def _urn(identifier: uuid.UUID | str) -> str:
    return f"urn:uuid:{identifier}"


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": _urn(resource["id"]), "resource": resource}


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def bundle(
    view: dict[str, Any],
    events: list[dict[str, Any]],
    sender: Organization,
    receiver: Organization,
    consent: Consent | None,
    now: datetime,
) -> dict[str, Any]:
    referral_id = uuid.UUID(view["id"])
    patient_id = uuid.uuid5(PATIENT_NAMESPACE, str(referral_id))
    request_id = uuid.uuid5(PATIENT_NAMESPACE, f"service-request/{referral_id}")
    consent_id = uuid.UUID(view["consent_id"])
    status = ReferralStatus(view["status"])

    patient: dict[str, Any] = {"resourceType": "Patient", "id": str(patient_id)}
    subject = view.get("subject", {})
    if "name" in subject:
        patient["name"] = [{"text": subject["name"]}]
    if "gender" in subject:
        patient["gender"] = (
            subject["gender"] if subject["gender"] in {"female", "male"} else "other"
        )
    if "date_of_birth" in subject:
        patient["birthDate"] = subject["date_of_birth"]
    if "language" in subject:
        patient["communication"] = [
            {"language": _concept("urn:ietf:bcp:47", subject["language"]), "preferred": True}
        ]
    contact = subject.get("contact", {})
    if contact.get("phone"):
        patient["telecom"] = [{"system": "phone", "value": contact["phone"]}]

    organizations = [
        {"resourceType": "Organization", "id": str(org.id), "name": org.name, "active": True}
        for org in (sender, receiver)
    ]

    reason = view.get("reason", {})
    service_request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(request_id),
        "status": STATUSES[status].service_request,
        "intent": "order",
        "category": [_concept("http://snomed.info/sct", "3457005", "Patient referral")],
        "priority": view["priority"],
        "code": {"coding": [{"system": NEEDS_SYSTEM, "code": need} for need in view["needs"]]},
        "subject": {"reference": _urn(patient_id)},
        "authoredOn": view["created_at"],
        "requester": {"reference": _urn(sender.id), "display": sender.name},
        "performer": [{"reference": _urn(receiver.id), "display": receiver.name}],
        "supportingInfo": [{"reference": _urn(consent_id)}],
    }
    if "gbv_type" in reason:
        service_request["reasonCode"] = [_concept(GBV_SYSTEM, reason["gbv_type"])]

    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(referral_id),
        "identifier": [{"system": f"{RELAY}:referral", "value": str(referral_id)}],
        "basedOn": [{"reference": _urn(request_id)}],
        "status": status.value,
        "intent": "order",
        "priority": view["priority"],
        "focus": {"reference": _urn(request_id)},
        "for": {"reference": _urn(patient_id)},
        "authoredOn": view["created_at"],
        "lastModified": view["updated_at"],
        "requester": {"reference": _urn(sender.id)},
        "owner": {"reference": _urn(receiver.id)},
        "restriction": {"period": {"end": view["due_at"]}},
    }
    last = next((e for e in reversed(events) if e.get("status") == status.value), None)
    if last and last.get("reason"):
        task["statusReason"] = _concept(REASON_SYSTEM, last["reason"])
    if last and last.get("outcome"):
        task["output"] = [
            {
                "type": {"text": "outcome"},
                "valueCodeableConcept": _concept(OUTCOME_SYSTEM, last["outcome"]),
            }
        ]

    fhir_consent: dict[str, Any] = {
        "resourceType": "Consent",
        "id": str(consent_id),
        "status": "active",
        "scope": _concept("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [_concept("http://loinc.org", "59284-0", "Patient Consent")],
        "patient": {"reference": _urn(patient_id)},
        "policyRule": _concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN"),
    }
    if consent is not None:
        withdrawn = consent.withdrawn_at is not None
        expired = consent.valid_until is not None and consent.valid_until <= now
        fhir_consent["status"] = "inactive" if withdrawn or expired else "active"
        fhir_consent["dateTime"] = consent.created_at.isoformat()
        period = {"start": consent.valid_from.isoformat()}
        if consent.valid_until is not None:
            period["end"] = consent.valid_until.isoformat()
        fhir_consent["provision"] = {
            "type": "permit",
            "period": period,
            "purpose": [
                {"system": PURPOSE_SYSTEM, "code": purpose} for purpose in consent.purposes
            ],
            "actor": [
                {
                    "role": _concept(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP"
                    ),
                    "reference": {"reference": _urn(receiver.id)},
                }
            ],
        }
    resources = [task, service_request, fhir_consent, patient, *organizations]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": [_entry(resource) for resource in resources],
    }

"""Partner organisations and a service to refer to, and the HTTP steps of a referral, for the
referral, event and webhook tests."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import Attribute, Service, ServiceCapacity
from api.models.organization import OrganizationKind
from api.taxonomy import term_id, unit_id
from tests.factories.auth import Partner, create_partner

Json = dict[str, Any]
NAME = "Amina Testperson"


@dataclass
class Network:
    sender: Partner
    receiver: Partner
    third: Partner
    police: Partner
    service: Service
    police_service: Service


async def add_service(
    session: AsyncSession, partner: Partner, needs: tuple[str, ...], **fields: Any
) -> Service:
    service = Service(
        organization_id=partner.organization.id,
        name=fields.pop("name", "Referral target"),
        status="active",
        accepts_referrals=fields.pop("accepts_referrals", True),
        **fields,
    )
    session.add(service)
    await session.flush()
    for code in needs:
        session.add(
            Attribute(
                link_id=service.id,
                link_entity="service",
                link_type="need",
                taxonomy_term_id=term_id(code),
            )
        )
    await session.flush()
    return service


async def set_capacity(session: AsyncSession, service: Service, available: int) -> None:
    session.add(
        ServiceCapacity(
            id=uuid.uuid4(),
            service_id=service.id,
            unit_id=unit_id("bed"),
            available=available,
            maximum=max(available, 10),
        )
    )
    await session.flush()


async def network(session: AsyncSession, settings: Settings) -> Network:
    sender = await create_partner(
        session,
        settings,
        scopes=[Scope.referrals_send, Scope.referrals_receive, Scope.webhooks_manage],
        kind=OrganizationKind.committee,
        name="Village committee",
    )
    receiver = await create_partner(
        session,
        settings,
        scopes=[Scope.referrals_receive, Scope.webhooks_manage],
        kind=OrganizationKind.health,
        name="Health centre",
    )
    third = await create_partner(
        session,
        settings,
        scopes=[Scope.referrals_send, Scope.referrals_receive],
        kind=OrganizationKind.ngo,
        name="Another NGO",
    )
    police = await create_partner(
        session,
        settings,
        scopes=[Scope.referrals_receive],
        kind=OrganizationKind.police,
        name="Police post",
    )
    service = await add_service(
        session, receiver, ("post-rape-care", "medical-care"), name="Post-rape care"
    )
    police_service = await add_service(
        session, police, ("emergency-police",), name="Gender and child desk"
    )
    return Network(sender, receiver, third, police, service, police_service)


def consent_body(net: Network, **changes: Any) -> Json:
    body: Json = {
        "subject_ref": "CASE-2026-0042",
        "given_by": "parent_guardian",
        "relationship": "mother",
        "child_assent": True,
        "age_at_consent": 15,
        "method": "verbal",
        "recorded_by": "staff-17",
        "purposes": ["services"],
        "allowed_organizations": [str(net.receiver.organization.id)],
        "data_categories": ["identity", "contact", "demographics", "incident", "safety"],
    }
    body.update(changes)
    return body


def referral_body(net: Network, consent_id: str, /, **changes: Any) -> Json:
    body: Json = {
        "to_service_id": str(net.service.id),
        "consent_id": consent_id,
        "priority": "urgent",
        "needs": ["post-rape-care"],
        "reason": {"gbv_type": "rape", "incident_date": "2026-11-21"},
        "sharing_profile": "standard",
        "subject": {"name": NAME, "age": 15, "gender": "female", "language": "fr"},
        "safety": {"do_not_contact_directly": True, "safe_channel": "through_referrer"},
    }
    body.update(changes)
    return body


async def record_consent(client: httpx.AsyncClient, net: Network, **changes: Any) -> str:
    response = await client.post(
        "/v1/consents", json=consent_body(net, **changes), headers=net.sender.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def with_key(headers: dict[str, str]) -> dict[str, str]:
    """A partner's headers with a new Idempotency-Key, as every referral creation needs."""
    return {**headers, "Idempotency-Key": str(uuid.uuid4())}


async def refer(client: httpx.AsyncClient, net: Network, consent_id: str, **changes: Any) -> Json:
    response = await client.post(
        "/v1/referrals",
        json=referral_body(net, consent_id, **changes),
        headers=with_key(net.sender.headers),
    )
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def move(
    client: httpx.AsyncClient, headers: dict[str, str], referral_id: str, **change: Any
) -> httpx.Response:
    return await client.post(f"/v1/referrals/{referral_id}/status", json=change, headers=headers)


async def delete_network(engine: AsyncEngine, net: Network) -> None:
    organizations = [
        str(p.organization.id) for p in (net.sender, net.receiver, net.third, net.police)
    ]
    statements = [
        "DELETE FROM idempotency_record WHERE organization_id = ANY(:ids)",
        "DELETE FROM referral_event WHERE referral_id IN"
        " (SELECT id FROM referral WHERE from_organization_id = ANY(:ids))",
        "DELETE FROM outbox_event WHERE data->>'organization_id' = ANY(CAST(:ids AS text[]))",
        "DELETE FROM referral WHERE from_organization_id = ANY(:ids)",
        "DELETE FROM consent WHERE organization_id = ANY(:ids)",
        "DELETE FROM attribute WHERE link_id IN"
        " (SELECT id FROM service WHERE organization_id = ANY(:ids))",
        "DELETE FROM service WHERE organization_id = ANY(:ids)",
        "DELETE FROM oauth_token WHERE organization_id = ANY(:ids)",
        "DELETE FROM oauth_client WHERE organization_id = ANY(:ids)",
        "DELETE FROM organization WHERE id = ANY(:ids)",
    ]
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(
                text(statement),
                {
                    "ids": organizations
                    if "text[]" in statement
                    else [uuid.UUID(i) for i in organizations]
                },
            )

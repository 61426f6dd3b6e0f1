"""Two partner organisations and a service to refer to, for the referral tests."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import Attribute, Service, ServiceCapacity
from api.models.organization import OrganizationKind
from api.taxonomy import term_id, unit_id
from tests.factories.auth import Partner, create_partner


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
        scopes=[Scope.referrals_send, Scope.referrals_receive],
        kind=OrganizationKind.committee,
        name="Village committee",
    )
    receiver = await create_partner(
        session,
        settings,
        scopes=[Scope.referrals_receive],
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

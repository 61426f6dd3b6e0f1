"""What the printable referral form shows (issue 21): the export of the referral (``views.export``:
audited, and only what the sharing profile shares with the receiver, even for its sender), and
beside it the summary of the consent it rests on, who to call back at the referring organisation
and the name of the area where it happened.

The consent's summary (who gave it, their relationship, the child's assent, the age at consent)
speaks of the person: it is shown exactly when the export shows the person's data (a volunteer,
a closed referral, a withdrawn consent or erased data see none of it). Never the sender's case
reference (``subject_ref``), nor the staff pseudonym who recorded the consent: they stay with
the organisation that recorded it, as in the FHIR export.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.config import Settings
from api.models.referral import Consent, DataCategory, SharingProfile
from api.records import record_of
from api.repositories import areas, directory
from api.repositories import referrals as repository
from api.schemas.referrals import ConsentState
from api.services import consents
from api.services.consents import PROFILE_CATEGORIES
from api.services.referrals.views import Export, export


@dataclass(frozen=True)
class ConsentSummary:
    """The consent as the form summarises it: codes, which the form puts in words."""

    state: ConsentState
    given_by: str
    relationship: str | None
    child_assent: bool | None
    age_at_consent: int
    method: str
    purposes: list[str]
    shared: list[DataCategory]  # what this referral's profile shares, among what it allows
    recipient_kinds: list[str]
    recipient_names: list[str]  # the organisations it names
    given_on: datetime
    valid_until: datetime | None


@dataclass(frozen=True)
class CallBack:
    """Who to call back at the referring organisation: its name and contact points from the
    directory (its own phones and e-mail)."""

    name: str
    phones: list[str]
    email: str | None


@dataclass(frozen=True)
class Printable:
    export: Export
    consent: ConsentSummary | None
    call_back: CallBack
    incident_area: str | None  # the name of the area the incident happened in, when shown


def _summary(consent: Consent, profile: SharingProfile, names: list[str]) -> ConsentSummary:
    allowed = set(consent.data_categories)
    return record_of(
        ConsentSummary,
        consent,
        state=consents.state(consent, datetime.now(UTC)),
        purposes=list(consent.purposes),
        shared=[c for c in DataCategory if c in PROFILE_CATEGORIES[profile] and c.value in allowed],
        recipient_kinds=list(consent.allowed_recipient_kinds),
        recipient_names=names,
        given_on=consent.valid_from,
    )


async def printable(
    session: AsyncSession, settings: Settings, principal: Principal, referral_id: uuid.UUID
) -> Printable:
    """The referral as its printable form shows it to ``principal`` (an export: audited)."""
    found = await export(session, settings, principal, referral_id)
    view = found.view
    shows_person = "personal_data_withheld" not in view
    summary = None
    if shows_person and found.consent is not None:
        named = await repository.organization_names(session, found.consent.allowed_organizations)
        profile = SharingProfile(view["sharing_profile"])
        summary = _summary(found.consent, profile, named)
    sender = found.sender
    phones = await directory.phones_by(session, "organization_id", [sender.id])
    area_id = view.get("reason", {}).get("incident_area_id")
    area = (
        await areas.one(session, uuid.UUID(area_id), simplify=None, geometry=False)
        if area_id
        else None
    )
    return Printable(
        export=found,
        consent=summary,
        call_back=CallBack(
            name=sender.name,
            phones=[phone.number for phone in phones.get(sender.id, [])],
            email=sender.email,
        ),
        incident_area=area["name"] if area else None,
    )

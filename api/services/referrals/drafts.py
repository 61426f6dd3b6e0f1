"""Referrals made on Relay's pages, step by step (issue 21): a draft per referral begun.

What the steps gather (the needs, the place, the service, the consent, the person's data, the
safety instructions) is kept on the server, sealed under the draft's own data key, so that a
phone that loses its connection (or a person the idle timeout signed out) finds the draft
again, while nothing of the person is ever stored on the phone. ``send`` records the consent and
creates the referral in one unit (a refusal leaves neither), with the draft as the referral's
idempotency key: a form sent twice (a double tap, a resend after a dropped connection) answers
the one referral the first made. The worker deletes drafts past their time
(``RELAY_REFERRAL_DRAFT_HOURS``); a sent draft keeps only the referral's id until then.
"""

import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api import crypto
from api.auth.principal import Principal
from api.config import Settings
from api.errors import NotFound, Unprocessable
from api.models.referral import (
    ConsentPurpose,
    Priority,
    ReferralDraft,
    SharingProfile,
)
from api.repositories import referrals as referral_repository
from api.repositories import workspace as repository
from api.repositories.base import act_as, act_as_worker, add
from api.repositories.workspace import Chosen
from api.schemas.referrals import ConsentCreate, ReferralCreate
from api.services import consents
from api.services.consents import AUTHORITIES, PROFILE_CATEGORIES
from api.services.referrals.intake import create

SWEEP_BATCH = 500
DRAFTS_LISTED = 5
_TABLE, _COLUMN = "referral_draft", "content"
# A case reference Relay makes when the sender gives none: no name, nothing of the person.
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class DraftNotFound(NotFound, code="draft-not-found"): ...


class DraftIncomplete(Unprocessable, code="draft-incomplete"):
    """A step of the draft is missing or no longer fits the others (``step`` names it)."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(detail, step=step)
        self.step = step


@dataclass
class Draft:
    id: uuid.UUID
    content: dict[str, Any] = field(default_factory=dict)
    """The steps' answers: ``needs``, ``priority``, ``place``, ``service_id``, ``consent``,
    ``sharing_profile``, ``subject``, ``reason``, ``safety``, ``case_reference``."""
    referral_id: uuid.UUID | None = None
    updated_at: datetime | None = None

    @property
    def sent(self) -> bool:
        return self.referral_id is not None

    @property
    def service_id(self) -> uuid.UUID | None:
        value = self.content.get("service_id")
        return uuid.UUID(value) if value else None

    @property
    def profile(self) -> SharingProfile | None:
        value = self.content.get("sharing_profile")
        return SharingProfile(value) if value else None


def case_reference() -> str:
    """A short reference a person can read over the phone (``RL-7KQ3-M9XD``)."""
    letters = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"RL-{letters[:4]}-{letters[4:]}"


def recorded_by(principal: Principal) -> str:
    """The consent's staff pseudonym for a person (letters, digits and ``:`` only)."""
    assert principal.user_id is not None
    return f"relay-user:{principal.user_id.hex}"


def _seal(settings: Settings, row: ReferralDraft, content: dict[str, Any]) -> bytes:
    key = settings.master.unwrap(row.wrapped_key, row.master_version, row.id)
    plaintext = json.dumps(content, separators=(",", ":")).encode()
    return crypto.seal(key, plaintext, table=_TABLE, column=_COLUMN, row=row.id)


def _opened(settings: Settings, row: ReferralDraft) -> Draft:
    content: dict[str, Any] = {}
    if row.content is not None:
        key = settings.master.unwrap(row.wrapped_key, row.master_version, row.id)
        plaintext = crypto.open_sealed(key, row.content, table=_TABLE, column=_COLUMN, row=row.id)
        content = json.loads(plaintext)
    return Draft(row.id, content, row.referral_id, row.updated_at)


def _person(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise DraftNotFound("Drafts are made by people on Relay's pages.")
    return principal.user_id


async def begin(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    content: dict[str, Any],
    form_id: uuid.UUID | None = None,
) -> Draft:
    """A new draft holding the first step's answers. ``form_id``, the id the first step's form
    was shown with, becomes the draft's: the same form posted again (a double tap, a resend
    after a lost answer) finds the draft it made instead of making another."""
    user_id = _person(principal)
    await act_as(session, principal.organization_id)
    now = datetime.now(UTC)
    if form_id is not None:
        made = await repository.draft(session, form_id, user_id, now, lock=False)
        if made is not None:
            return _opened(settings, made)
    for draft_id in (form_id or uuid.uuid4(), uuid.uuid4()):
        draft = _new(settings, principal, user_id, draft_id, content, now)
        if await repository.add_draft(session, draft.row):
            return draft.opened
        # Taken: by the same form posted at the same moment (its draft, now committed), or,
        # never in practice, by someone else's draft (then a new id of our own).
        made = await repository.draft(session, draft_id, user_id, now, lock=False)
        if made is not None:
            return _opened(settings, made)
    raise AssertionError("two random draft ids taken")  # pragma: no cover


@dataclass(frozen=True)
class _Made:
    row: ReferralDraft
    opened: Draft


def _new(
    settings: Settings,
    principal: Principal,
    user_id: uuid.UUID,
    draft_id: uuid.UUID,
    content: dict[str, Any],
    now: datetime,
) -> _Made:
    """A draft row (not added yet) with the first step's answers sealed under its own key."""
    wrapped, version = settings.master.wrap(crypto.new_key(), draft_id)
    row = ReferralDraft(
        id=draft_id,
        organization_id=principal.organization_id,
        user_id=user_id,
        wrapped_key=wrapped,
        master_version=version,
        updated_at=now,
        expires_at=now + timedelta(hours=settings.referral_draft_hours),
    )
    content = {"case_reference": case_reference(), **content}
    row.content = _seal(settings, row, content)
    return _Made(row, Draft(row.id, content, None, now))


async def _row(
    session: AsyncSession, principal: Principal, draft_id: uuid.UUID, *, lock: bool
) -> ReferralDraft:
    user_id = _person(principal)
    await act_as(session, principal.organization_id)
    row = await repository.draft(session, draft_id, user_id, datetime.now(UTC), lock=lock)
    if row is None:
        raise DraftNotFound("No referral in progress with this id: it was sent, or it expired.")
    return row


async def load(
    session: AsyncSession, settings: Settings, principal: Principal, draft_id: uuid.UUID
) -> Draft:
    """The person's own draft (another person's, even of their organisation, is not found)."""
    return _opened(settings, await _row(session, principal, draft_id, lock=False))


async def update(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    draft_id: uuid.UUID,
    answers: dict[str, Any],
) -> Draft:
    """Keep a step's answers (a key given None is forgotten). A sent draft is not changed."""
    row = await _row(session, principal, draft_id, lock=True)
    draft = _opened(settings, row)
    if draft.sent:
        return draft
    for key, value in answers.items():
        if value is None:
            draft.content.pop(key, None)
        else:
            draft.content[key] = value
    now = datetime.now(UTC)
    row.content = _seal(settings, row, draft.content)
    row.updated_at = now
    row.expires_at = now + timedelta(hours=settings.referral_draft_hours)
    await add(session, row)
    draft.updated_at = now
    return draft


async def discard(session: AsyncSession, principal: Principal, draft_id: uuid.UUID) -> None:
    """Forget a draft not sent (its sealed content and key with it)."""
    row = await _row(session, principal, draft_id, lock=True)
    if row.referral_id is None:
        await repository.delete_draft(session, row.id)


async def unsent(session: AsyncSession, principal: Principal) -> list[tuple[uuid.UUID, datetime]]:
    """The person's drafts to finish (ids and when last changed; nothing of their content)."""
    user_id = _person(principal)
    await act_as(session, principal.organization_id)
    rows = await repository.unsent_drafts(session, user_id, datetime.now(UTC), limit=DRAFTS_LISTED)
    return [(row.id, row.updated_at) for row in rows]


def purposes_for(kind: str) -> list[ConsentPurpose]:
    """What a consent must allow for a receiver of this kind: reporting to an authority, or
    referral to services."""
    if kind in AUTHORITIES:
        return [ConsentPurpose.reporting_to_police]
    return [ConsentPurpose.services]


def profiles_for(kind: str) -> list[SharingProfile]:
    """The sharing profiles a referral to a receiver of this kind may use."""
    if kind in AUTHORITIES:
        return [SharingProfile.police_report, SharingProfile.minimal, SharingProfile.standard]
    return [SharingProfile.minimal, SharingProfile.standard]


def consent_body(
    draft: Draft, principal: Principal, receiver_id: uuid.UUID, receiver_kind: str
) -> ConsentCreate:
    """The consent the draft records: given for this receiver by name, for what its kind needs,
    covering the categories of the sharing profile chosen."""
    profile = draft.profile
    given = draft.content.get("consent")
    if profile is None or not isinstance(given, dict):
        raise DraftIncomplete("consent", "The consent is not recorded yet.")
    try:
        return ConsentCreate.model_validate(
            {
                **given,
                "subject_ref": draft.content["case_reference"],
                "recorded_by": recorded_by(principal),
                "purposes": purposes_for(receiver_kind),
                "allowed_organizations": [str(receiver_id)],
                "data_categories": sorted(PROFILE_CATEGORIES[profile]),
            }
        )
    except ValidationError as error:
        raise DraftIncomplete("consent", "The consent is incomplete.") from error


def referral_body(draft: Draft, consent_id: uuid.UUID) -> ReferralCreate:
    """The referral the draft makes, with only what the sharing profile shares."""
    content = draft.content
    if not content.get("needs"):
        raise DraftIncomplete("need", "Choose the help needed.")
    if draft.service_id is None:
        raise DraftIncomplete("services", "Choose the service.")
    if draft.profile is None:
        raise DraftIncomplete("consent", "The consent is not recorded yet.")
    try:
        return ReferralCreate.model_validate(
            {
                "to_service_id": str(draft.service_id),
                "consent_id": str(consent_id),
                "priority": content.get("priority", Priority.routine.value),
                "needs": content["needs"],
                "sharing_profile": draft.profile.value,
                **{
                    part: content[part]
                    for part in ("subject", "reason", "safety")
                    if content.get(part)
                },
            }
        )
    except ValidationError as error:
        raise DraftIncomplete("person", "The person's data is not valid.") from error


async def send(
    session: AsyncSession, settings: Settings, principal: Principal, draft_id: uuid.UUID
) -> uuid.UUID:
    """Record the consent and create the referral, once: the draft is locked while it is sent,
    and a draft sent before answers the referral it made. A refusal (the service has no room,
    the person is not eligible) leaves nothing written and the draft as it was."""
    row = await _row(session, principal, draft_id, lock=True)
    if row.referral_id is not None:
        return row.referral_id
    draft = _opened(settings, row)
    if draft.service_id is None:
        raise DraftIncomplete("services", "Choose the service.")
    target = await referral_repository.target(session, draft.service_id)
    if target is None:
        raise DraftIncomplete("services", "The service chosen is no longer listed.")
    consent_create = consent_body(
        draft, principal, target.organization.id, target.organization.kind
    )
    async with session.begin_nested():
        consent = await consents.create(session, principal, consent_create)
        referral_create = referral_body(draft, uuid.UUID(consent["id"]))
        made, _ = await create(
            session, settings, principal, referral_create, f"relay-draft:{draft.id}"
        )
    row.referral_id = uuid.UUID(made["id"])
    row.content = None
    row.updated_at = datetime.now(UTC)
    await add(session, row)
    return row.referral_id


async def purge_expired(session: AsyncSession, settings: Settings) -> int:
    """Worker job: drafts past their time are deleted, with their sealed content and key."""
    await act_as_worker(session)
    return await repository.delete_expired_drafts(session, datetime.now(UTC), limit=SWEEP_BATCH)


async def receiver(session: AsyncSession, draft: Draft) -> Chosen | None:
    """The service the draft refers to and its organisation, or None (none chosen yet, or
    one that can no longer receive referrals)."""
    if draft.service_id is None:
        return None
    return await receiver_of(session, draft.service_id)


async def receiver_of(session: AsyncSession, service_id: uuid.UUID) -> Chosen | None:
    """A service a referral may be sent to, with its organisation; None for any other id."""
    return await repository.chosen(session, service_id)

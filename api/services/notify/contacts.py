"""A person's contact for notifications of new urgent referrals: an e-mail address or an E.164
phone number (SMS), given by whoever manages the person (their organisation's admin, the
operator, ``relay users`` on the command line: ``people.get_user`` decides, as for every other
change of an account). Staff's personal data: audited as a change of the account, never with the
address; the pages post it in a form body, never in a URL."""

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Unprocessable
from api.models.notifications import (
    EMAIL_PATTERN,
    MAXIMUM_EMAIL_LENGTH,
    NotificationChannel,
    NotificationContact,
)
from api.repositories import notifications as repository
from api.services import audit, people
from api.services.audit import Action
from api.services.people import Manager
from api.services.people.errors import InvalidLogin
from api.services.people.identifiers import phone

RESOURCE = "user_account"
_EMAIL = re.compile(EMAIL_PATTERN)


class InvalidContact(Unprocessable, code="invalid-notification-contact"):
    """Not an e-mail address, nor a phone number with its country code."""


@dataclass(frozen=True)
class Contact:
    channel: NotificationChannel
    address: str


def parse(typed: str) -> Contact:
    """What was typed: a phone number when it starts with + or 00, else an e-mail address."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if text.startswith(("+", "00")):
        try:
            return Contact(NotificationChannel.sms, phone(text))
        except InvalidLogin:
            raise InvalidContact(
                "A phone number is written with its country code: +, then 7 to 15 digits."
            ) from None
    local, _, domain = text.rpartition("@")
    address = f"{local}@{domain.lower()}"
    if len(address) > MAXIMUM_EMAIL_LENGTH or not _EMAIL.fullmatch(address):
        raise InvalidContact("Give an e-mail address, or a phone number starting with +.")
    return Contact(NotificationChannel.email, address)


async def contact_of(session: AsyncSession, by: Manager, user_id: uuid.UUID) -> Contact | None:
    """The person's contact, for whoever manages them."""
    await people.get_user(session, by, user_id)
    found = await repository.contact(session, user_id)
    return Contact(NotificationChannel(found.channel), found.address) if found else None


async def set_contact(
    session: AsyncSession, by: Manager, user_id: uuid.UUID, typed: str
) -> Contact:
    user = await people.get_user(session, by, user_id)
    contact = parse(typed)
    await repository.save_contact(
        session,
        NotificationContact(
            user_id=user.id,
            organization_id=user.organization_id,
            channel=contact.channel.value,
            address=contact.address,
            updated_at=datetime.now(UTC),
        ),
    )
    await audit.record(
        session, by, Action.user_notification_contact, RESOURCE, [user.id], [user.organization_id]
    )
    return contact


async def remove_contact(session: AsyncSession, by: Manager, user_id: uuid.UUID) -> None:
    """No more notifications for the person (those queued are dropped when their turn comes)."""
    user = await people.get_user(session, by, user_id)
    if await repository.delete_contact(session, user.id):
        await audit.record(
            session,
            by,
            Action.user_notification_contact,
            RESOURCE,
            [user.id],
            [user.organization_id],
        )

"""The worker's two jobs for notifications of new urgent referrals.

``queue_urgent`` reads the event outbox after its cursor (numbered events only, in order) and,
for each ``referral.created`` of a referral at least ``urgent`` (``urgent``, ``asap``, ``stat``),
queues one notification per person of the receiving organisation who may receive referrals, is
active and has a contact. A notification is unique per person and referral, and the cursor moves
in the same transaction as the rows it queued: reading an event again queues nothing twice.

``send_due`` sends what is due, one message per person however many referrals it counts
("2 new urgent referrals on Relay", in the person's preferred language, and the inbox's address:
nothing of any person), and marks
them sent. A message not accepted (the SMTP server down, refusing, too slow) stays queued, tried
again after ``RELAY_NOTIFICATION_RETRY_SCHEDULE`` (the last delay repeated: never given up); the
log names the kind of failure, never the address. After a failure the round sends nothing more on
that channel (the rest stay due for the next round), so a server down or hanging costs a round
one time limit, not one per message. Rows being sent are locked, so two workers
never send the same ones; a worker that dies after sending and before committing sends them
again (at least once).
"""

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.roles import ROLE_SCOPES
from api.auth.scopes import Scope
from api.config import Settings
from api.languages import DEFAULT_LANGUAGE
from api.logging import get_logger
from api.models.events import EventType
from api.models.notifications import (
    Notification,
    NotificationChannel,
    NotificationContact,
    NotificationOutcome,
)
from api.models.referral import Priority
from api.repositories import notifications as repository
from api.repositories.base import act_as_worker
from api.services.notify.senders import Message, notifiers

log = get_logger("relay.notify")

EVENT_BATCH = 500
SEND_BATCH = 50
URGENT = frozenset({Priority.urgent.value, Priority.asap.value, Priority.stat.value})
# Who hears of a new referral: the roles that receive referrals for their organisation.
RECEIVING_ROLES = frozenset(
    role.value for role, scopes in ROLE_SCOPES.items() if Scope.referrals_receive.value in scopes
)
INBOX_PATH = "/app/inbox"


# The message in each language of Relay's pages (``api.languages``): one, then several. Services
# do not read the pages' catalogues; these words are the pages' own ("referral", "urgent").
# Digits stay ASCII: an SMS in any script reads them, and a phone's link needs them anyway.
SUMMARIES: dict[str, tuple[str, str]] = {
    "en": ("1 new urgent referral on Relay", "{count} new urgent referrals on Relay"),
    "fr": (
        "1 nouvelle orientation urgente sur Relay",
        "{count} nouvelles orientations urgentes sur Relay",
    ),
    "mg": (
        "Fandefasana maika vaovao 1 ao amin'ny Relay",
        "Fandefasana maika vaovao {count} ao amin'ny Relay",
    ),
    "ne": ("Relay मा 1 नयाँ अत्यावश्यक रेफरल", "Relay मा {count} नयाँ अत्यावश्यक रेफरल"),
    "km": ("ការបញ្ជូនករណីបន្ទាន់ថ្មី 1 នៅលើ Relay", "ការបញ្ជូនករណីបន្ទាន់ថ្មី {count} នៅលើ Relay"),
}


def message(settings: Settings, count: int, to: str, language: str = DEFAULT_LANGUAGE) -> Message:
    """The message in the person's language: how many new urgent referrals, and where to read
    them (signed in)."""
    one, several = SUMMARIES.get(language, SUMMARIES[DEFAULT_LANGUAGE])
    summary = one if count == 1 else several.format(count=count)
    return Message(to=to, subject=summary, text=f"{summary}: {settings.issuer}{INBOX_PATH}")


async def queue_urgent(session: AsyncSession, settings: Settings) -> int:
    """Worker job: notifications for the new urgent referrals in the outbox since the cursor."""
    await act_as_worker(session)
    cursor = await repository.lock_cursor(session)
    if cursor is None:
        return 0
    found = await repository.events_after(session, cursor.seq, EVENT_BATCH)
    if not found:
        return 0
    now = datetime.now(UTC)
    rows = []
    for event in found:
        data = event.data
        # Each party has its copy of the event: the receiver's says who is to be told.
        if (
            event.type != EventType.referral_created.value
            or data.get("priority") not in URGENT
            or str(event.organization_id) != data.get("to_organization_id")
            or event.organization_id is None
        ):
            continue
        for user_id in await repository.recipients(session, event.organization_id, RECEIVING_ROLES):
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": user_id,
                    "referral_id": uuid.UUID(data["referral_id"]),
                    "next_attempt_at": now,
                }
            )
    queued = await repository.queue(session, rows)
    last = found[-1].seq
    assert last is not None
    await repository.advance(session, cursor, last)
    return queued


def _retry_at(settings: Settings, attempts: int, now: datetime) -> datetime:
    delays = settings.notification_retries
    return now + timedelta(seconds=delays[min(attempts, len(delays) - 1)])


async def send_due(session: AsyncSession, settings: Settings) -> int:
    """Worker job: send the notifications due, one message per person; returns how many
    notifications were handled (sent, or dropped for a contact removed)."""
    now = datetime.now(UTC)
    due = await repository.due(session, now, SEND_BATCH)
    per_person: dict[uuid.UUID, list[Notification]] = defaultdict(list)
    contacts: dict[uuid.UUID, NotificationContact | None] = {}
    languages: dict[uuid.UUID, str] = {}
    for notification, contact, language in due:
        per_person[notification.user_id].append(notification)
        contacts[notification.user_id] = contact
        languages[notification.user_id] = language
    senders = notifiers(settings)
    failing: set[NotificationChannel] = set()
    handled = 0
    for user_id, queued in per_person.items():
        ids = [notification.id for notification in queued]
        contact = contacts[user_id]
        if contact is None:
            await repository.mark(
                session, ids, sent_at=now, outcome=NotificationOutcome.no_contact.value
            )
            handled += len(ids)
            continue
        channel = NotificationChannel(contact.channel)
        if channel in failing:
            continue  # its server just failed: the rest wait, due, for the next round
        sender = senders[channel]
        try:
            await sender.send(message(settings, len(ids), contact.address, languages[user_id]))
        except Exception as error:
            attempts = min(notification.attempts for notification in queued)
            await repository.mark_failed(
                session, ids, _retry_at(settings, attempts, now), type(error).__name__
            )
            log.warning(
                "notification_failed",
                channel=contact.channel,
                notifications=len(ids),
                attempts=attempts + 1,
                error=type(error).__name__,
            )
            failing.add(channel)
            continue
        await repository.mark(
            session, ids, sent_at=datetime.now(UTC), outcome=NotificationOutcome.sent.value
        )
        handled += len(ids)
    return handled

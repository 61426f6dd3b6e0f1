"""Telling people of new urgent referrals (issue 21), with no personal data in the message.

- ``contacts``: a person's e-mail address or phone number for it, set by whoever manages them;
- ``jobs``: the worker's jobs, queueing from the event outbox and sending with retries;
- ``senders``: the notifiers (log, SMTP, an HTTP SMS gateway), chosen by the settings.
"""

from api.services.notify.contacts import (
    Contact,
    InvalidContact,
    contact_of,
    parse,
    remove_contact,
    set_contact,
)
from api.services.notify.jobs import queue_urgent, send_due
from api.services.notify.senders import (
    HttpSmsGateway,
    LogNotifier,
    Message,
    Notifier,
    SmtpNotifier,
    notifiers,
)

__all__ = [
    "Contact",
    "HttpSmsGateway",
    "InvalidContact",
    "LogNotifier",
    "Message",
    "Notifier",
    "SmtpNotifier",
    "contact_of",
    "notifiers",
    "parse",
    "queue_urgent",
    "remove_contact",
    "send_due",
    "set_contact",
]

"""Referrals and their closed loop.

A referral goes from the caller's organisation to a service of another organisation that accepts
referrals, on a consent the caller recorded. The subject's data, the reason and the safety
instructions are sealed under the referral's own data key (``api.crypto``); the receiver sees only
what the sharing profile shares, and nothing personal once the referral is closed, the consent is
withdrawn or expired, or the data erased. One table (``statuses.STATUSES``) says who may move a
referral from which status to which; every change appends a ``referral_event`` (``history``).

- ``intake``: creating a referral (idempotent, every check before anything is written);
- ``views``: what the caller may see of one (its ``Box``), reads, lists and exports;
- ``printable``: what the printable form shows (the export, the consent's summary, who to call
  back);
- ``transitions``: status changes, notes and erasure;
- ``sweeps``: the worker's jobs (overdue referrals, retention);
- ``statuses``, ``history``, ``errors``: the status table, the event history, the problems.
"""

from api.services.referrals.intake import create
from api.services.referrals.printable import Printable, printable
from api.services.referrals.statuses import REASONS, STATUSES, TRANSITIONS
from api.services.referrals.sweeps import flag_overdue, purge_closed
from api.services.referrals.transitions import add_note, change_status, erase
from api.services.referrals.views import LIST_LIMIT, Export, events, export, get, listing

__all__ = [
    "LIST_LIMIT",
    "REASONS",
    "STATUSES",
    "TRANSITIONS",
    "Export",
    "Printable",
    "add_note",
    "change_status",
    "create",
    "erase",
    "events",
    "export",
    "flag_overdue",
    "get",
    "listing",
    "printable",
    "purge_closed",
]

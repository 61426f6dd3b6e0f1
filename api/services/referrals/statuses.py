"""Every referral status (FHIR Task codes) and what it means for the closed loop, in one table.

A row says which side sets the status and after which statuses, the coded reason it needs, whether
it needs an outcome, whether it closes the referral (the receiver then sees no personal data),
and the FHIR ``ServiceRequest.status`` of an export. Anything the table does not allow is refused.
Adding a status is a member of ``ReferralStatus``, a row here and a migration of the
``ck_referral_status`` constraint (see CONTRIBUTING.md); a test fails while one is missing.
"""

from dataclasses import dataclass
from enum import StrEnum

from api.models.referral import Box, ReferralStatus
from api.schemas.referrals import CancellationReason, FailureReason, HoldReason, RejectionReason


@dataclass(frozen=True)
class StatusRule:
    set_by: Box | None
    """The side that may set it (``None``: only Relay, when the referral is created)."""
    after: frozenset[ReferralStatus] = frozenset()
    """The statuses it may follow."""
    reasons: type[StrEnum] | None = None
    """The codes of the reason it needs (``None``: it takes no reason)."""
    needs_outcome: bool = False
    closes: bool = False
    service_request: str = "active"
    """FHIR ``ServiceRequest.status`` in an export."""


S = ReferralStatus
_OPEN = frozenset({S.requested, S.received, S.accepted, S.in_progress, S.on_hold})

STATUSES: dict[ReferralStatus, StatusRule] = {
    S.requested: StatusRule(None),
    S.received: StatusRule(Box.received, frozenset({S.requested})),
    S.accepted: StatusRule(Box.received, frozenset({S.requested, S.received})),
    S.rejected: StatusRule(
        Box.received,
        frozenset({S.requested, S.received}),
        RejectionReason,
        closes=True,
        service_request="revoked",
    ),
    S.in_progress: StatusRule(Box.received, frozenset({S.accepted, S.on_hold})),
    S.on_hold: StatusRule(
        Box.received,
        frozenset({S.accepted, S.in_progress}),
        HoldReason,
        service_request="on-hold",
    ),
    S.completed: StatusRule(
        Box.received,
        frozenset({S.accepted, S.in_progress}),
        needs_outcome=True,
        closes=True,
        service_request="completed",
    ),
    S.failed: StatusRule(
        Box.received,
        frozenset({S.accepted, S.in_progress, S.on_hold}),
        FailureReason,
        closes=True,
        service_request="revoked",
    ),
    S.cancelled: StatusRule(
        Box.sent, _OPEN, CancellationReason, closes=True, service_request="revoked"
    ),
}

# Views of the table, for the rules that ask one question.
TRANSITIONS: dict[tuple[Box, ReferralStatus], frozenset[ReferralStatus]] = {
    (rule.set_by, status): rule.after
    for status, rule in STATUSES.items()
    if rule.set_by is not None
}
REASONS: dict[ReferralStatus, type[StrEnum]] = {
    status: rule.reasons for status, rule in STATUSES.items() if rule.reasons is not None
}
CLOSED_STATUSES = frozenset(status for status, rule in STATUSES.items() if rule.closes)

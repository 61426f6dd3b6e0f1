"""What can go wrong with a referral, as the problems partners receive."""

from api.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable


class ReferralNotFound(NotFound, code="referral-not-found"): ...


class ConsentRefused(Unprocessable, code="consent-does-not-allow"): ...


class UnknownService(Unprocessable, code="unknown-service"): ...


class ProfileMismatch(Unprocessable, code="not-in-sharing-profile"): ...


class IdempotencyKeyReused(Unprocessable, code="idempotency-key-reused"): ...


class IdempotencyKeyRequired(BadRequest, code="idempotency-key-required"):
    """A referral created without a key: a retry after a lost answer would refer the person
    twice, so creation requires one (400, as the IETF Idempotency-Key draft says)."""

    def __init__(self) -> None:
        super().__init__(
            "Creating a referral needs an Idempotency-Key header: a new random value (a UUID) "
            "for each referral, sent again unchanged when you retry it, so that a retry after a "
            "lost answer returns the referral already made instead of referring the person twice."
        )


class NotAccepting(Conflict, code="service-not-accepting-referrals"): ...


class NoCapacity(Conflict, code="no-capacity"): ...


class NotEligible(Conflict, code="not-eligible"): ...


class InvalidTransition(Conflict, code="invalid-transition"): ...


class NotYourTransition(Forbidden, code="not-your-transition"): ...


class InvalidStatusChange(Unprocessable, code="invalid-status-change"): ...

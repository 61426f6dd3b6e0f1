"""Time-based one-time passwords (RFC 6238, pyotp): six digits, 30-second steps, SHA-1 (what
every authenticator app reads from a provisioning URI).

A code is accepted for the current step or one step either side (clock drift), and only for a
step later than the last one accepted for the account (``matching_step`` returns the step, the
service keeps it): a code seen over someone's shoulder, or sent twice, is refused.
"""

import hmac
from datetime import datetime

import pyotp

DIGITS = 6
PERIOD_SECONDS = 30
WINDOW_STEPS = 1


def new_secret() -> str:
    """A new secret: 160 random bits in base 32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code, or typed)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def code_at(secret: str, moment: datetime) -> str:
    """The code of ``moment``'s step (what an authenticator shows then): for tests and the demo."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS).at(moment)


def matching_step(secret: str, typed: str, now: datetime, after_step: int | None) -> int | None:
    """The time step whose code was typed, within ``WINDOW_STEPS`` of now and later than
    ``after_step`` (the last step accepted), or None."""
    code = "".join(typed.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS)
    current = totp.timecode(now)
    found = None
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        # Every step is compared, in constant time, whatever matched before.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    if found is None or (after_step is not None and found <= after_step):
        return None
    return found

"""Relay's referral-needs taxonomy: stable codes, and ids identical on every installation.

The rows themselves are created by migration 0003; ``tests/test_taxonomy.py`` checks that this
module and the database agree.
"""

import uuid

RELAY_TAXONOMY_ID = uuid.UUID("6f1c9a52-6d1e-4f0e-9d55-0b5e1a7c2f10")
NEED_CODES = (
    "emergency-police",
    "medical-care",
    "post-rape-care",
    "psychosocial-support",
    "safe-shelter",
    "legal-aid",
    "child-protection-case-management",
    "family-support",
    "anti-trafficking",
    "reintegration",
    "education-literacy",
    "livelihoods",
    "early-childhood",
    "maternal-infant-health",
    "helpline",
)


def term_id(code: str) -> uuid.UUID:
    """The id of a referral-needs term, from its code."""
    if code not in NEED_CODES:
        raise KeyError(code)
    return uuid.uuid5(RELAY_TAXONOMY_ID, code)


def unit_id(name: str) -> uuid.UUID:
    return uuid.uuid5(RELAY_TAXONOMY_ID, f"unit:{name}")

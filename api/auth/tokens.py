"""Client secrets, access and refresh tokens, authorization codes: generated with 256 bits of
entropy, stored as keyed hashes.

Values carry a recognisable prefix so secret scanners can find leaked ones. Because they are
random and long, a keyed HMAC-SHA256 is a sufficient (and fast) way to store them: a database
dump reveals neither the values nor a way to test guesses without the server's secret key.
"""

import hashlib
import hmac
import secrets

CLIENT_ID_PREFIX = "rly_client_"
CLIENT_SECRET_PREFIX = "rly_secret_"  # noqa: S105 - a prefix, not a secret
ACCESS_TOKEN_PREFIX = "rly_at_"  # noqa: S105 - a prefix, not a token
REFRESH_TOKEN_PREFIX = "rly_rt_"  # noqa: S105 - a prefix, not a token
AUTHORIZATION_CODE_PREFIX = "rly_ac_"
MAXIMUM_CREDENTIAL_LENGTH = 512


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(12)


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


def new_access_token() -> str:
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_authorization_code() -> str:
    return AUTHORIZATION_CODE_PREFIX + secrets.token_urlsafe(32)


def keyed_hash(secret_key: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the server's secret key, hex-encoded."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def matches(secret_key: str, value: str, stored_hash: str | None) -> bool:
    if stored_hash is None or len(value) > MAXIMUM_CREDENTIAL_LENGTH:
        return False
    return hmac.compare_digest(keyed_hash(secret_key, value), stored_hash)


# -- codes people type: invitations and recovery codes -------------------------------------------

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: digits and capitals without I, L, O and U, so that nothing typed from a
screen or a sheet of paper is ambiguous; what people type is read case-blind, with I and L as 1
and O as 0 (``canonical_code``)."""
INVITATION_CODE_LENGTH = 12  # 60 bits: one-time, expiring, its tries counted per address
RECOVERY_CODE_LENGTH = 10  # 50 bits: only after the password, its tries counted per account
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def _code(length: int, group: int) -> str:
    characters = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
    return "-".join(characters[index : index + group] for index in range(0, length, group))


def new_invitation_code() -> str:
    """A one-time invitation code, as people read it: ``7K3M-Q9TX-2HRB``."""
    return _code(INVITATION_CODE_LENGTH, 4)


def new_recovery_code() -> str:
    """A recovery code, as people read it: ``4F7KQ-M2X9T``."""
    return _code(RECOVERY_CODE_LENGTH, 5)


def canonical_code(typed: str, length: int) -> str | None:
    """A typed code as it was made (upper case, no spaces or dashes; I and L read as 1, O as 0),
    or None when it cannot be one of ``length`` characters: what is hashed and compared."""
    if len(typed) > 4 * length:
        return None
    cleaned = "".join(typed.split()).replace("-", "").upper().translate(_READ_AS)
    if len(cleaned) != length or any(character not in CODE_ALPHABET for character in cleaned):
        return None
    return cleaned

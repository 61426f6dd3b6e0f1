"""Client secrets and access tokens: generated with 256 bits of entropy, stored as keyed hashes.

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
MAXIMUM_CREDENTIAL_LENGTH = 512


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(12)


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


def new_access_token() -> str:
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)


def keyed_hash(secret_key: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the server's secret key, hex-encoded."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def matches(secret_key: str, value: str, stored_hash: str | None) -> bool:
    if stored_hash is None or len(value) > MAXIMUM_CREDENTIAL_LENGTH:
        return False
    return hmac.compare_digest(keyed_hash(secret_key, value), stored_hash)

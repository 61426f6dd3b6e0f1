"""Application-level encryption of personal data (AES-256-GCM, ``cryptography``).

Each referral has a data key of its own. Its personal data (and each note of its thread) is sealed
under that key with associated data naming the table, column, row and key version, so a
ciphertext copied to another row or column does not open. The data key is stored wrapped by a
master key that never enters the database (``RELAY_MASTER_KEYS``: ``version:base64``, comma
separated; the highest version wraps new keys, the others still unwrap until
``relay keys rotate-master`` has re-wrapped everything). Deleting a referral's wrapped key
shreds everything sealed under it.
"""

import base64
import binascii
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32
DATA_KEY_VERSION = 1  # the format of sealed values; part of their associated data


class CryptoError(Exception):
    """A master key is missing or malformed, or a ciphertext does not open."""


@dataclass(frozen=True)
class MasterKeys:
    keys: dict[int, bytes]

    @classmethod
    def parse(cls, value: str) -> "MasterKeys":
        keys: dict[int, bytes] = {}
        for item in value.split(","):
            version, _, encoded = item.strip().partition(":")
            try:
                number = int(version)
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (ValueError, binascii.Error) as error:
                message = "master keys are 'version:base64url-key', comma separated"
                raise CryptoError(message) from error
            if number < 1 or len(key) != KEY_BYTES or number in keys:
                raise CryptoError("each master key is a distinct version >= 1 and 32 bytes")
            keys[number] = key
        if not keys:
            raise CryptoError("no master key")
        return cls(keys)

    @property
    def current(self) -> int:
        return max(self.keys)

    def wrap(self, data_key: bytes, referral_id: uuid.UUID) -> tuple[bytes, int]:
        version = self.current
        return _seal(self.keys[version], data_key, _key_context(referral_id, version)), version

    def seal(
        self, plaintext: bytes, *, table: str, column: str, row: uuid.UUID
    ) -> tuple[bytes, int]:
        """A secret of Relay's own (a webhook signing secret) sealed directly by the current
        master key; returns the ciphertext and the master key version."""
        version = self.current
        associated = _context(table, column, row) + f"/master-v{version}".encode()
        return _seal(self.keys[version], plaintext, associated), version

    def open(
        self, sealed: bytes, version: int, *, table: str, column: str, row: uuid.UUID
    ) -> bytes:
        if version not in self.keys:
            raise CryptoError(f"master key version {version} is not configured")
        associated = _context(table, column, row) + f"/master-v{version}".encode()
        return _open(self.keys[version], sealed, associated)

    def unwrap(self, wrapped: bytes, version: int, referral_id: uuid.UUID) -> bytes:
        if version not in self.keys:
            raise CryptoError(f"master key version {version} is not configured")
        return _open(self.keys[version], wrapped, _key_context(referral_id, version))


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def generate_master_key(version: int = 1) -> str:
    """A new master key entry for ``RELAY_MASTER_KEYS``."""
    return f"{version}:{base64.urlsafe_b64encode(new_key()).decode().rstrip('=')}"


def seal(data_key: bytes, plaintext: bytes, *, table: str, column: str, row: uuid.UUID) -> bytes:
    return _seal(data_key, plaintext, _context(table, column, row))


def open_sealed(
    data_key: bytes, sealed: bytes, *, table: str, column: str, row: uuid.UUID
) -> bytes:
    return _open(data_key, sealed, _context(table, column, row))


def _context(table: str, column: str, row: uuid.UUID) -> bytes:
    return f"relay/{table}/{column}/{row}/v{DATA_KEY_VERSION}".encode()


def _key_context(referral_id: uuid.UUID, version: int) -> bytes:
    return f"relay/referral_key/wrapped_key/{referral_id}/master-v{version}".encode()


def _seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def _open(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError) as error:
        raise CryptoError("the ciphertext does not open with this key and context") from error

"""Master key rotation: every referral's data key re-wrapped, and every webhook signing secret
and people's TOTP secret re-sealed, with the newest master key.

The personal data is not re-encrypted (its data key does not change); once every key and secret
is under the new master key, the old one can leave ``RELAY_MASTER_KEYS``.
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.crypto import MasterKeys
from api.repositories import events as event_repository
from api.repositories import people as people_repository
from api.repositories import referrals as repository
from api.repositories.base import act_as_worker, add

BATCH = 500
TABLE, COLUMN = "webhook_subscription", "secret"


async def rotate_master(session: AsyncSession, settings: Settings) -> dict[str, int]:
    master = settings.master
    await act_as_worker(session)
    rewrapped = 0
    while True:
        keys = await repository.keys_not_wrapped_by(session, master.current, limit=BATCH)
        if not keys:
            break
        for key in keys:
            data_key = master.unwrap(key.wrapped_key, key.master_version, key.referral_id)
            key.wrapped_key, key.master_version = master.wrap(data_key, key.referral_id)
        await add(session, *keys)
        rewrapped += len(keys)
    current = await repository.count_keys(session)
    resealed = 0
    for subscription in await event_repository.secrets_not_sealed_by(session, master.current):
        row = subscription.id
        secret = master.open(
            subscription.secret, subscription.secret_version, table=TABLE, column=COLUMN, row=row
        )
        subscription.secret, subscription.secret_version = master.seal(
            secret, table=TABLE, column=COLUMN, row=row
        )
        if subscription.previous_secret is not None and subscription.previous_secret_version:
            previous = master.open(
                subscription.previous_secret,
                subscription.previous_secret_version,
                table=TABLE,
                column=COLUMN,
                row=row,
            )
            subscription.previous_secret, subscription.previous_secret_version = master.seal(
                previous, table=TABLE, column=COLUMN, row=row
            )
        await add(session, subscription)
        resealed += 1
    return {
        "version": master.current,
        "rewrapped": rewrapped,
        "current": current - rewrapped,
        "webhook_secrets_resealed": resealed,
        "totp_secrets_resealed": await _reseal_totp_secrets(session, settings),
    }


async def _reseal_totp_secrets(session: AsyncSession, settings: Settings) -> int:
    master = settings.master
    resealed = 0
    while True:
        users = await people_repository.totp_not_sealed_by(session, master.current, limit=BATCH)
        if not users:
            return resealed
        for user in users:
            if user.totp_secret is not None and user.totp_secret_version is not None:
                user.totp_secret, user.totp_secret_version = _reseal(
                    master, user.totp_secret, user.totp_secret_version, user.id
                )
            if user.totp_pending_secret is not None and user.totp_pending_version is not None:
                user.totp_pending_secret, user.totp_pending_version = _reseal(
                    master, user.totp_pending_secret, user.totp_pending_version, user.id
                )
        await add(session, *users)
        resealed += len(users)


def _reseal(master: MasterKeys, sealed: bytes, version: int, row: uuid.UUID) -> tuple[bytes, int]:
    secret = master.open(sealed, version, table="user_account", column="totp_secret", row=row)
    return master.seal(secret, table="user_account", column="totp_secret", row=row)

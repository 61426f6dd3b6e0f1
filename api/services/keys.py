"""Master key rotation: every referral's data key re-wrapped with the newest master key.

The personal data is not re-encrypted (its data key does not change); once every key is wrapped
by the new master key, the old one can leave ``RELAY_MASTER_KEYS``.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.repositories import referrals as repository

BATCH = 500


async def rotate_master(session: AsyncSession, settings: Settings) -> dict[str, int]:
    master = settings.master
    await repository.act_as_worker(session)
    rewrapped = 0
    while True:
        keys = await repository.keys_not_wrapped_by(session, master.current, limit=BATCH)
        if not keys:
            break
        for key in keys:
            data_key = master.unwrap(key.wrapped_key, key.master_version, key.referral_id)
            key.wrapped_key, key.master_version = master.wrap(data_key, key.referral_id)
        await repository.add(session, *keys)
        rewrapped += len(keys)
    current = await repository.count_keys(session)
    return {"version": master.current, "rewrapped": rewrapped, "current": current - rewrapped}

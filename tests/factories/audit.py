"""The audit trail's worker steps, run and committed for a test."""

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from api.config import Settings
from api.services import audit


async def seal_and_sign(engine: AsyncEngine, settings: Settings) -> None:
    """Chain every committed event and sign a checkpoint at the head (one every event)."""
    every = settings.model_copy(update={"audit_checkpoint_events": 1})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        await audit.seal(session, every)
        await audit.sign_checkpoint(session, every)
        await session.commit()

"""The worker's jobs, on the real database."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.auth.tokens import keyed_hash
from api.config import Settings
from api.models.oauth import OAuthToken
from api.services import maintenance
from tests.factories.auth import create_client, issue_token
from tests.factories.organizations import create_organization


async def test_forgets_tokens_a_day_past_expiry_and_keeps_the_rest(
    session: AsyncSession, settings: Settings
) -> None:
    organization = await create_organization(session)
    credentials = await create_client(session, settings, organization, scopes=[Scope.audit_read])
    stale = await issue_token(session, settings, credentials, lifetime=-timedelta(days=2))
    recent = await issue_token(session, settings, credentials, lifetime=-timedelta(hours=1))
    live = await issue_token(session, settings, credentials)

    removed = await maintenance.forget_expired_credentials(session, settings)

    assert removed >= 1
    key = settings.secret_key.get_secret_value()
    remaining = set(
        (await session.execute(select(OAuthToken.token_hash))).scalars()  # type: ignore[call-overload]
    )
    assert keyed_hash(key, stale) not in remaining
    assert keyed_hash(key, recent) in remaining
    assert keyed_hash(key, live) in remaining

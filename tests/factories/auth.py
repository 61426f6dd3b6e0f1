"""OAuth clients, keys, assertions and tokens, as plain async functions."""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.auth.tokens import keyed_hash, new_access_token
from api.config import Settings
from api.models.oauth import ClientAuthMethod, OAuthToken
from api.models.organization import Organization, OrganizationKind
from api.schemas.clients import ClientCreate, ClientCredentials
from api.services import clients
from tests.factories.organizations import create_organization

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALL_ALGORITHMS = ["RS256", "RS384", "PS256", "ES256", "ES384", "HS256"]


async def create_client(
    session: AsyncSession,
    settings: Settings,
    organization: Organization,
    *,
    scopes: list[Scope],
    auth_method: ClientAuthMethod | None = None,
    jwks: dict[str, Any] | None = None,
    redirect_uris: list[str] | None = None,
    any_organization: bool = False,
    name: str = "default",
) -> ClientCredentials:
    body = ClientCreate(
        organization_id=organization.id,
        name=name,
        scopes=scopes,
        auth_method=auth_method,
        jwks=jwks,
        redirect_uris=redirect_uris or [],
        any_organization=any_organization,
    )
    return await clients.create(session, settings.secret_key.get_secret_value(), body)


NATIVE_REDIRECT_URI = "http://127.0.0.1/callback"
WEB_REDIRECT_URI = "https://app.example.org/relay/callback"


async def register_app(
    session: AsyncSession,
    settings: Settings,
    organization: Organization,
    *,
    scopes: list[Scope] | None = None,
    public: bool = True,
    redirect_uris: list[str] | None = None,
    any_organization: bool = False,
) -> ClientCredentials:
    """A client acting for people: a public native app (loopback redirect) by default, or a
    confidential web app (``public=False``, an https redirect, a secret)."""
    return await create_client(
        session,
        settings,
        organization,
        scopes=scopes if scopes is not None else list(Scope),
        auth_method=ClientAuthMethod.none if public else None,
        redirect_uris=redirect_uris or [NATIVE_REDIRECT_URI if public else WEB_REDIRECT_URI],
        any_organization=any_organization,
        name="Field app",
    )


def ec_key(kid: str = "ec-1", curve: str = "P-384") -> ECKey:
    return ECKey.generate_key(curve, parameters={"kid": kid})


def rsa_key(kid: str = "rsa-1", bits: int = 2048) -> RSAKey:
    return RSAKey.generate_key(bits, parameters={"kid": kid})


def public_jwks(*keys: ECKey | RSAKey) -> dict[str, Any]:
    return dict(KeySet(list(keys)).as_dict(private=False))


def assertion(
    client_id: str,
    key: ECKey | RSAKey,
    *,
    audience: str,
    algorithm: str,
    lifetime: int = 60,
    jti: str | None = None,
    **overrides: Any,
) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex if jti is None else jti,
    }
    claims.update(overrides)
    header = {"alg": algorithm, "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=ALL_ALGORITHMS)


async def issue_token(
    session: AsyncSession,
    settings: Settings,
    client: ClientCredentials,
    *,
    scopes: list[str] | None = None,
    lifetime: timedelta = timedelta(minutes=10),
) -> str:
    """A token as the token endpoint would store it, without going through it."""
    from api.repositories import clients as client_repository

    stored = await client_repository.get(session, client.client_id)
    assert stored is not None
    value = new_access_token()
    now = datetime.now(UTC)
    session.add(
        OAuthToken(
            token_hash=keyed_hash(settings.secret_key.get_secret_value(), value),
            client_pk=stored.id,
            organization_id=stored.organization_id,
            scopes=scopes if scopes is not None else list(client.scopes),
            issued_at=now - timedelta(seconds=1),
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return value


@dataclass
class Partner:
    organization: Organization
    client: ClientCredentials
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_partner(
    session: AsyncSession,
    settings: Settings,
    *,
    scopes: list[Scope],
    kind: OrganizationKind = OrganizationKind.ngo,
    name: str = "Partner NGO",
) -> Partner:
    organization = await create_organization(session, name=name, kind=kind)
    client = await create_client(session, settings, organization, scopes=scopes)
    return Partner(organization, client, await issue_token(session, settings, client))

"""OAuth clients: registration, secret rotation, disabling, and a partner's view of its own.

A client authenticates either with a secret (``client_secret_basic``/``client_secret_post``) or
with keys (``private_key_jwt``), never both; a public client (``none``: a mobile or desktop app,
which cannot keep a secret) with neither. Secrets are generated here, returned once and stored
as a keyed hash. Registered keys must be public RSA (2048 bits or more) or EC (P-256, P-384)
keys, each with a ``kid``.

A client registered with redirect URIs acts for people (the authorization code grant with
PKCE, ``api/auth/authorize.py``), one without for itself (client credentials); a public client
must have some. The URIs are checked by ``api/auth/redirect_uris.py`` (https, or loopback for
a public native app; no wildcard).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import redirect_uris
from api.auth.principal import Principal
from api.auth.tokens import keyed_hash, new_client_id, new_client_secret
from api.errors import BadRequest, Conflict, NotFound
from api.models.oauth import ClientAuthMethod, OAuthClient
from api.repositories import clients as repository
from api.repositories import tokens as token_repository
from api.schemas.clients import ClientCreate, ClientCredentials, ClientPublic
from api.services import audit, organizations
from api.services.audit import Action

MAXIMUM_KEYS = 10
MINIMUM_RSA_BITS = 2048
ALLOWED_CURVES = {"P-256", "P-384"}


class ClientNotFound(NotFound, code="client-not-found", title="Client not found"): ...


class InvalidJwks(BadRequest, code="invalid-jwks", title="Invalid JWKS"): ...


class ClientDisabled(Conflict, code="client-disabled", title="Client disabled"): ...


class NoSecretToRotate(Conflict, code="client-has-no-secret", title="Client has no secret"): ...


class InvalidRedirectUri(BadRequest, code="invalid-redirect-uri", title="Invalid redirect URI"): ...


def public(client: OAuthClient) -> ClientPublic:
    return ClientPublic(
        client_id=client.client_id,
        organization_id=client.organization_id,
        name=client.name,
        scopes=list(client.scopes),
        auth_method=ClientAuthMethod(client.auth_method),
        key_ids=[str(key.get("kid")) for key in (client.jwks or {}).get("keys", [])],
        redirect_uris=list(client.redirect_uris),
        any_organization=client.any_organization,
        created_at=client.created_at,
        rotated_at=client.rotated_at,
        disabled_at=client.disabled_at,
    )


def validate_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    """The public JWKS to store, or ``InvalidJwks`` saying what is wrong (never echoing keys)."""
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAXIMUM_KEYS:
        raise InvalidJwks(f"A JWKS needs a 'keys' list of 1 to {MAXIMUM_KEYS} keys.")
    kids = [key.get("kid") if isinstance(key, dict) else None for key in keys]
    if not all(isinstance(kid, str) and 1 <= len(kid) <= 128 for kid in kids):
        raise InvalidJwks("Every key needs a kid.")
    if len(set(kids)) != len(kids):
        raise InvalidJwks("Key ids must be unique.")
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise InvalidJwks("The JWKS could not be read as JSON Web Keys.") from error
    for key in key_set.keys:
        if key.is_private:
            raise InvalidJwks("Register public keys only: a private key was sent.")
        if isinstance(key, RSAKey):
            if key.raw_value.key_size < MINIMUM_RSA_BITS:
                raise InvalidJwks(f"RSA keys need at least {MINIMUM_RSA_BITS} bits.")
        elif isinstance(key, ECKey):
            if key.curve_name not in ALLOWED_CURVES:
                raise InvalidJwks("EC keys must be on P-256 or P-384.")
        else:
            raise InvalidJwks("Only RSA and EC keys are accepted.")
    return dict(key_set.as_dict(private=False))


async def create(session: AsyncSession, secret_key: str, body: ClientCreate) -> ClientCredentials:
    await organizations.get(session, body.organization_id)
    method = body.auth_method or (
        ClientAuthMethod.private_key_jwt if body.jwks else ClientAuthMethod.client_secret_basic
    )
    public_client = method is ClientAuthMethod.none
    try:
        uris = redirect_uris.check_all(body.redirect_uris, public=public_client)
    except redirect_uris.RedirectUriRefused as error:
        raise InvalidRedirectUri(str(error)) from error
    if public_client and not uris:
        raise InvalidRedirectUri("A public client acts for people only: give its redirect URIs.")
    if body.any_organization and not uris:
        raise BadRequest("any_organization is for clients acting for people (redirect_uris).")
    secret: str | None = None
    jwks: dict[str, Any] | None = None
    if method is ClientAuthMethod.private_key_jwt:
        if not body.jwks:
            raise InvalidJwks("private_key_jwt clients need a jwks.")
        jwks = validate_jwks(body.jwks)
    elif body.jwks:
        raise BadRequest("Only private_key_jwt clients take a jwks.")
    elif not public_client:
        secret = new_client_secret()
    client = await repository.add(
        session,
        OAuthClient(
            client_id=new_client_id(),
            organization_id=body.organization_id,
            name=body.name,
            scopes=list(dict.fromkeys(scope.value for scope in body.scopes)),
            auth_method=method.value,
            secret_hash=keyed_hash(secret_key, secret) if secret else None,
            jwks=jwks,
            redirect_uris=uris,
            any_organization=body.any_organization,
        ),
    )
    return ClientCredentials(**public(client).model_dump(), client_secret=secret)


async def get(session: AsyncSession, client_id: str) -> OAuthClient:
    client = await repository.get(session, client_id)
    if client is None:
        raise ClientNotFound()
    return client


async def rotate_secret(
    session: AsyncSession, secret_key: str, client_id: str
) -> ClientCredentials:
    """A new secret replaces the old one at once; tokens already issued keep working."""
    client = await get(session, client_id)
    if client.disabled_at is not None:
        raise ClientDisabled("A disabled client cannot get a new secret.")
    if client.auth_method == ClientAuthMethod.private_key_jwt:
        raise NoSecretToRotate("This client authenticates with keys, not a secret.")
    if client.auth_method == ClientAuthMethod.none:
        raise NoSecretToRotate("A public client has no secret.")
    secret = new_client_secret()
    await repository.set_secret(session, client, keyed_hash(secret_key, secret), datetime.now(UTC))
    return ClientCredentials(**public(client).model_dump(), client_secret=secret)


async def audited(
    session: AsyncSession, principal: Principal, action: Action, client: ClientPublic
) -> None:
    """The audit event of the operator's change to a client (the organisation is its party)."""
    await audit.record(
        session, principal, action, "oauth_client", [client.client_id], [client.organization_id]
    )


async def disable(
    session: AsyncSession, client_id: str, *, by: Principal | None = None
) -> ClientPublic:
    """Disabling is final and revokes every token the client holds; ``by`` the operator (who
    alone may, and is audited), or the command line."""
    if by is not None:
        organizations.operator_only(by)
    client = await get(session, client_id)
    now = datetime.now(UTC)
    await repository.disable(session, client, now)
    await token_repository.revoke_all_for_client(session, client.id, now)
    disabled = public(client)
    if by is not None:
        await audited(session, by, Action.admin_disable, disabled)
    return disabled


async def page(
    session: AsyncSession, organization_id: uuid.UUID | None, *, limit: int, offset: int
) -> tuple[list[ClientPublic], int]:
    """Clients of every organisation, or of one (the operator's lists)."""
    rows, total = await repository.page(session, organization_id, limit=limit, offset=offset)
    return [public(row) for row in rows], total


async def overseen(session: AsyncSession, principal: Principal, client_id: str) -> ClientPublic:
    """Any organisation's client, as the operator's pages show it."""
    organizations.operator_only(principal)
    return public(await get(session, client_id))


@dataclass(frozen=True)
class Overseen:
    """A client as the operator's page lists it: when it last got a token, if known."""

    client: ClientPublic
    last_token_at: datetime | None


async def of_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, *, limit: int
) -> tuple[list[Overseen], int]:
    """An organisation's clients as the operator's page lists them, oldest first."""
    organizations.operator_only(principal)
    rows, total = await repository.page(session, organization_id, limit=limit, offset=0)
    last = await token_repository.last_issued(session, [row.id for row in rows])
    return [Overseen(public(row), last.get(row.id)) for row in rows], total


async def page_own(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> tuple[list[ClientPublic], int]:
    rows, total = await repository.page(
        session, principal.organization_id, limit=limit, offset=offset
    )
    return [public(row) for row in rows], total


async def get_own(session: AsyncSession, principal: Principal, client_id: str) -> ClientPublic:
    """Another organisation's client answers exactly like one that does not exist."""
    client = await repository.get_readable(session, principal.organization_id, client_id)
    if client is None:
        raise ClientNotFound()
    return public(client)

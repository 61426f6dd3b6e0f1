"""Contract of the OAuth client endpoints. Secrets appear once, in ``ClientCredentials``."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.auth.scopes import Scope
from api.models.oauth import ClientAuthMethod
from api.schemas.common import Flag, RequestBody, ShortName


class ClientCreate(RequestBody):
    organization_id: uuid.UUID
    name: ShortName = "default"
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))] = Field(
        description="What the client may ask for. A client acting for people gets, for each "
        "person, only those of its scopes the person's role holds."
    )
    auth_method: ClientAuthMethod | None = Field(
        default=None,
        description="Defaults to private_key_jwt when jwks is given, else client_secret_basic. "
        "none: a public client (a mobile or desktop app), which has no credential and needs "
        "redirect_uris.",
    )
    jwks: dict[str, Any] | None = Field(
        default=None, description="Public keys (a JWKS) for private_key_jwt clients."
    )
    redirect_uris: Annotated[list[str], Field(max_length=10)] = Field(
        default=[],
        description="A client with redirect URIs acts for people (authorization code grant with "
        "PKCE); one without, for itself (client credentials). Matched exactly: https://…, or "
        "http://127.0.0.1/… or http://[::1]/… for a public native app (any port).",
    )
    any_organization: Flag = Field(
        default=False,
        description="A client acting for people: whether people of every organisation may let "
        "it act for them (false: only its own organisation's).",
    )


class ClientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    organization_id: uuid.UUID
    name: str
    scopes: list[str]
    auth_method: ClientAuthMethod
    key_ids: list[str] = Field(description="kid of each registered public key")
    redirect_uris: list[str] = Field(
        description="Where a client acting for people is sent back with a code; empty for a "
        "client acting for itself."
    )
    any_organization: bool = Field(
        description="Whether people of every organisation may let this client act for them."
    )
    created_at: datetime
    rotated_at: datetime | None
    disabled_at: datetime | None


class ClientCredentials(ClientPublic):
    client_secret: str | None = Field(
        description="Shown this once; Relay keeps only a hash. Null for key-only and public "
        "clients."
    )

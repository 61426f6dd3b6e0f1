"""Contract of the OAuth client endpoints. Secrets appear once, in ``ClientCredentials``."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.auth.scopes import Scope
from api.models.oauth import ClientAuthMethod
from api.schemas.common import RequestBody, ShortName


class ClientCreate(RequestBody):
    organization_id: uuid.UUID
    name: ShortName = "default"
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    auth_method: ClientAuthMethod | None = Field(
        default=None,
        description="Defaults to private_key_jwt when jwks is given, else client_secret_basic.",
    )
    jwks: dict[str, Any] | None = Field(
        default=None, description="Public keys (a JWKS) for private_key_jwt clients."
    )


class ClientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    organization_id: uuid.UUID
    name: str
    scopes: list[str]
    auth_method: ClientAuthMethod
    key_ids: list[str] = Field(description="kid of each registered public key")
    created_at: datetime
    rotated_at: datetime | None
    disabled_at: datetime | None


class ClientCredentials(ClientPublic):
    client_secret: str | None = Field(
        description="Shown this once; Relay keeps only a hash. Null for key-only clients."
    )

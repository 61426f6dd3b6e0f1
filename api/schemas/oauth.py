"""Contract of the authorization server's endpoints (RFC 6749, 7009, 7662, 8414)."""

from pydantic import BaseModel, ConfigDict, Field


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = Field(examples=["Bearer"])
    expires_in: int
    scope: str
    refresh_token: str | None = Field(
        default=None,
        description="To an app acting for a person only: good once; each use gives a new one.",
    )


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2 error response."""

    error: str = Field(examples=["invalid_client", "invalid_scope", "invalid_request"])
    error_description: str | None = None
    error_uri: str | None = None


class IntrospectionResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    active: bool
    token_type: str | None = None
    client_id: str | None = None
    sub: str | None = None
    scope: str | None = None
    iss: str | None = None
    iat: int | None = None
    exp: int | None = None
    organization_id: str | None = None


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 §2."""

    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str
    introspection_endpoint: str
    revocation_endpoint: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    code_challenge_methods_supported: list[str]
    authorization_response_iss_parameter_supported: bool = Field(
        description="RFC 9207: every authorization response names the issuer (iss)."
    )
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    introspection_endpoint_auth_signing_alg_values_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_signing_alg_values_supported: list[str]
    scopes_supported: list[str]
    service_documentation: str


class Revoked(BaseModel):
    """RFC 7009 §2.2: an empty object, whether the token was revoked or was not valid anyway
    (the answer tells nothing about a token that is not the caller's)."""

    model_config = ConfigDict(extra="forbid")

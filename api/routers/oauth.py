"""The authorization server: token, introspection, revocation, metadata.

These endpoints speak OAuth, not problem details: their errors are RFC 6749 §5.2 JSON bodies
(``{"error": "invalid_client", ...}``), which is what OAuth client libraries expect.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth.authorize import AUTHORIZE_PATH
from api.auth.dependencies import LimitsDep
from api.auth.scopes import Scope
from api.auth.server import (
    AUTH_METHODS,
    CODE_CHALLENGE_METHOD,
    CONFIDENTIAL_AUTH_METHODS,
    SIGNING_ALGORITHMS,
)
from api.deps import SessionDep, SettingsDep
from api.schemas.oauth import (
    AuthorizationServerMetadata,
    IntrospectionResponse,
    OAuthErrorBody,
    Revoked,
    TokenResponse,
)
from api.services import oauth as service

router = APIRouter(tags=["oauth"])
# GET/POST /oauth/authorize, the consent page on the web session of Relay's own pages, is served
# (api/routers/authorize_page.py): the metadata names it, with the code grant. Without it, the
# code grant could not be listed (RFC 8414 wants its endpoint).
AUTHORIZE_PAGE = True
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
_CLIENT_AUTH_FIELDS: dict[str, Any] = {
    "client_id": {"type": "string", "maxLength": 128},
    "client_secret": {"type": "string", "maxLength": 512},
    "client_assertion_type": {"type": "string"},
    "client_assertion": {"type": "string", "maxLength": 8192},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorBody, "description": "Invalid request (RFC 6749 §5.2)"},
    401: {"model": OAuthErrorBody, "description": "Client authentication failed"},
}


def _form_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": properties | _CLIENT_AUTH_FIELDS,
        "required": required,
    }
    return {"requestBody": {"required": True, "content": {FORM_MEDIA_TYPE: {"schema": schema}}}}


# The form of introspection and revocation: the token, and what kind it is.
_TOKEN_FORM = _form_body(
    {"token": {"type": "string"}, "token_type_hint": {"type": "string"}}, ["token"]
)


def _answers(model: type[Any], description: str) -> dict[int | str, dict[str, Any]]:
    """The endpoint's 200 (an OAuth body, not a problem) and its OAuth errors."""
    return {200: {"model": model, "description": description}, **_ERRORS}


async def _call(request: Request, endpoint: str, settings: SettingsDep) -> service.OAuthCall:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    pairs: list[tuple[str, str]] = []
    if content_type == FORM_MEDIA_TYPE:
        form = await request.form()
        pairs = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    client = request.client
    return service.OAuthCall(
        endpoint=settings.issuer + endpoint,
        pairs=pairs,
        headers=request.headers,
        client_address=client.host if client else "unknown",
    )


def _respond(result: service.OAuthResponse) -> JSONResponse:
    return JSONResponse(result.body, status_code=result.status, headers=dict(result.headers))


def _oauth_endpoint(
    name: str,
    endpoint: service.OAuthEndpoint,
    *,
    form: dict[str, Any] = _TOKEN_FORM,
    **documented: Any,
) -> None:
    """Declare ``POST /oauth/<name>``: its form (by default a token's) read as an ``OAuthCall``
    and answered by the service's ``endpoint`` (an OAuth body, not a problem); ``documented``:
    its summary, description and responses."""
    path = f"/oauth/{name}"

    async def answer(
        request: Request, session: SessionDep, settings: SettingsDep, limits: LimitsDep
    ) -> JSONResponse:
        call = await _call(request, path, settings)
        return _respond(await service.answer(session, settings, limits, call, endpoint))

    router.add_api_route(
        path,
        answer,
        methods=["POST"],
        name=name,
        response_model=None,
        openapi_extra=form,
        **documented,
    )


_oauth_endpoint(
    "token",
    service.OAuthEndpoint.token,
    summary="Get an access token (client credentials, authorization code, refresh token)",
    description="client_credentials: a client acting for itself. authorization_code (with the "
    "PKCE code_verifier) and refresh_token: an app acting for a person; every refresh token is "
    "good once, and one used twice revokes every token of its family.",
    responses=_answers(TokenResponse, "A bearer token"),
    form=_form_body(
        {
            "grant_type": {
                "type": "string",
                "enum": ["client_credentials", "authorization_code", "refresh_token"],
            },
            "scope": {"type": "string", "description": "Space-separated scopes"},
            "code": {"type": "string", "maxLength": 512},
            "redirect_uri": {"type": "string", "maxLength": 512},
            "code_verifier": {"type": "string", "minLength": 43, "maxLength": 128},
            "refresh_token": {"type": "string", "maxLength": 512},
        },
        ["grant_type"],
    ),
)
_oauth_endpoint(
    "introspect",
    service.OAuthEndpoint.introspection,
    summary="Introspect one of your own tokens (RFC 7662)",
    responses=_answers(IntrospectionResponse, "Token state"),
)
_oauth_endpoint(
    "revoke",
    service.OAuthEndpoint.revocation,
    summary="Revoke one of your own tokens (RFC 7009)",
    responses=_answers(Revoked, "Revoked, or the token was not valid anyway"),
)


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
)
async def metadata(settings: SettingsDep) -> AuthorizationServerMetadata:
    issuer = settings.issuer
    methods = list(AUTH_METHODS)
    algorithms = list(SIGNING_ALGORITHMS)
    return AuthorizationServerMetadata(
        issuer=issuer,
        authorization_endpoint=issuer + AUTHORIZE_PATH if AUTHORIZE_PAGE else None,
        token_endpoint=issuer + "/oauth/token",
        introspection_endpoint=issuer + "/oauth/introspect",
        revocation_endpoint=issuer + "/oauth/revoke",
        # RFC 8414: the code grant is listed only with the endpoint that gives codes; without
        # it, "none" (the registered response type that issues nothing) is the only true value.
        grant_types_supported=["client_credentials"]
        + (["authorization_code", "refresh_token"] if AUTHORIZE_PAGE else []),
        response_types_supported=["code"] if AUTHORIZE_PAGE else ["none"],
        response_modes_supported=["query"],
        code_challenge_methods_supported=[CODE_CHALLENGE_METHOD],
        authorization_response_iss_parameter_supported=True,
        # "none": public clients (apps acting for people), at the token endpoint only.
        token_endpoint_auth_methods_supported=methods,
        token_endpoint_auth_signing_alg_values_supported=algorithms,
        introspection_endpoint_auth_methods_supported=list(CONFIDENTIAL_AUTH_METHODS),
        introspection_endpoint_auth_signing_alg_values_supported=algorithms,
        revocation_endpoint_auth_methods_supported=methods,
        revocation_endpoint_auth_signing_alg_values_supported=algorithms,
        scopes_supported=[scope.value for scope in Scope],
        service_documentation=issuer + "/docs",
    )

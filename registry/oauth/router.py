"""HTTP endpoints of the authorization server and its published metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.http import HTTPBase
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from registry.deps import SettingsDep
from registry.errors import problem_responses
from registry.oauth.limits import TokenLimits
from registry.oauth.schemas import (
    JWKS,
    AuthorizationServerMetadata,
    IntrospectionResponse,
    OAuthErrorResponse,
    TokenOperationRequest,
    TokenRequest,
    TokenResponse,
)
from registry.oauth.server import FORM_MEDIA_TYPE, INTROSPECTION, REVOCATION, TOKEN, handle
from registry.oauth.server import server_metadata as build_metadata
from registry.responses import JSONResponse

router = APIRouter(tags=["oauth"])
Handler = TypeVar("Handler", bound=Callable[..., Any])

# How long other nodes may cache the JWKS. Short, because a rotated-in key must be
# seen soon; a verifier that meets an unknown kid should fetch again anyway.
JWKS_MAX_AGE = 300


class _ClientBasic(HTTPBase):
    """Declares ``client_secret_basic`` in the OpenAPI document. The header is read
    by the authorization server itself, which answers in RFC 6749's error format."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        return None


client_basic = _ClientBasic(
    scheme="basic",
    scheme_name="client_secret_basic",
    description="OAuth client id and secret, as issued by `lumbung client add`.",
    auto_error=False,
)


def _form_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {FORM_MEDIA_TYPE: {"schema": model.model_json_schema()}},
        }
    }


def _oauth_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": OAuthErrorResponse, "description": "OAuth 2.0 error (RFC 6749 §5.2)"}
        for status in statuses
    }


def _client_post(
    path: str,
    form: type[BaseModel],
    response_model: Any,
    *,
    operation_id: str,
    summary: str,
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> Callable[[Handler], Handler]:
    """An endpoint to which a client posts ``form`` with its credentials (RFC 6749
    §2.3); its errors are RFC 6749's, not problem+json."""
    return router.post(
        path,
        operation_id=operation_id,
        summary=summary,
        response_model=response_model,
        responses=responses or _oauth_errors(400, 401),
        dependencies=[Depends(client_basic)],
        openapi_extra=_form_body(form),
    )


@_client_post(
    "/oauth/token",
    TokenRequest,
    TokenResponse,
    operation_id="oauth_token",
    summary="Get an access token (client credentials)",
    responses=_oauth_errors(400, 401) | problem_responses(429),
)
async def token(request: Request) -> JSONResponse:
    """Exchange the client's credentials for a short-lived access token (RFC 6749 §4.4).

    Errors: `invalid_client` (401), `invalid_request`, `unsupported_grant_type`,
    `invalid_scope` (400); 429 with `Retry-After` when a client id or an address asks
    too often.
    """
    limits: TokenLimits = request.app.state.token_limits
    limits.check(request)
    return await handle(request, TOKEN)


@_client_post(
    "/oauth/introspect",
    TokenOperationRequest,
    IntrospectionResponse,
    operation_id="oauth_introspect",
    summary="Describe an access token (RFC 7662)",
)
async def introspect(request: Request) -> JSONResponse:
    """Whether a token is active, and what it grants. A client may introspect its own
    tokens, the node's admin any token; anything else is reported inactive."""
    return await handle(request, INTROSPECTION)


@_client_post(
    "/oauth/revoke",
    TokenOperationRequest,
    dict[str, Any],
    operation_id="oauth_revoke",
    summary="Revoke an access token (RFC 7009)",
)
async def revoke(request: Request) -> JSONResponse:
    """Revoke one of the client's tokens (the admin may revoke any). Answers 200 for
    tokens that are unknown, invalid or already expired too, as RFC 7009 asks."""
    return await handle(request, REVOCATION)


@router.get(
    "/.well-known/jwks.json",
    operation_id="oauth_jwks",
    summary="The node's public signing keys",
    response_model=JWKS,
)
def jwks(request: Request) -> JSONResponse:
    """The keys that verify this node's access tokens and signed requests: the current
    key and, during a rotation, the previous one."""
    return JSONResponse(
        request.app.state.keys.public_jwks(),
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"},
    )


@router.get(
    "/.well-known/oauth-authorization-server",
    operation_id="oauth_server_metadata",
    summary="Authorization server metadata (RFC 8414)",
    response_model=AuthorizationServerMetadata,
)
def server_metadata(settings: SettingsDep) -> dict[str, Any]:
    return build_metadata(settings)

"""Shapes of the OAuth endpoints' requests and responses, for the OpenAPI document.

The endpoints themselves answer with authlib's JSON; these models describe it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TokenRequest(BaseModel):
    """RFC 6749 §4.4.2, sent as application/x-www-form-urlencoded with HTTP Basic
    client authentication."""

    grant_type: Literal["client_credentials"]
    scope: str | None = Field(
        default=None,
        description="Space-separated scopes, a subset of the client's; all of them if absent.",
    )


class TokenResponse(BaseModel):
    access_token: str = Field(description="A JWT (RFC 9068) signed with the node's ES256 key.")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until the token expires (at most 300).")
    scope: str


class OAuthErrorResponse(BaseModel):
    """An RFC 6749 §5.2 error."""

    error: str = Field(examples=["invalid_client", "invalid_scope", "unsupported_grant_type"])
    error_description: str | None = None
    error_uri: str | None = None


class TokenOperationRequest(BaseModel):
    """The body of introspection (RFC 7662) and revocation (RFC 7009) requests."""

    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class IntrospectionResponse(BaseModel):
    """RFC 7662 §2.2. Only ``active`` is present for an inactive token."""

    model_config = ConfigDict(extra="allow")

    active: bool
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    aud: str | None = None
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None
    jti: str | None = None
    token_type: str | None = None
    publisher: str | None = Field(default=None, description="The client's publisher (UUID).")
    node_id: str | None = Field(default=None, description="The peer node behind the client.")


class PublicJWK(BaseModel):
    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str = Field(description="The RFC 7638 thumbprint of the key.")
    crv: str | None = None
    x: str | None = None
    y: str | None = None
    alg: str | None = None
    use: str | None = None


class JWKS(BaseModel):
    keys: list[PublicJWK]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 §2."""

    model_config = ConfigDict(extra="allow")

    issuer: str
    token_endpoint: str
    jwks_uri: str
    introspection_endpoint: str
    revocation_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]

"""Who is calling: the request dependencies that verify the bearer token and the
route's scopes, as ``Annotated`` aliases (``PrincipalDep``, ``CatalogWriter`` …)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes
from starlette.concurrency import run_in_threadpool

from registry.db import session_scope
from registry.deps import SessionDep
from registry.errors import Forbidden, Unauthorized
from registry.oauth.tokens import verify_access_token
from registry.principal import SCOPES, Principal

oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes=SCOPES)
    ),
    scheme_name="lumbung",
    description="OAuth 2.0 client credentials; see /.well-known/oauth-authorization-server",
    auto_error=False,
)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use an 'Authorization: Bearer <access token>' header")
    return token.strip()


async def current_principal(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal | None:
    """The caller, or None for an anonymous request. A token that is present but not
    valid is refused rather than treated as anonymous. Only a token is checked in a
    worker thread (it reads the database): an anonymous request needs no trip there."""
    token = _bearer(authorization)
    if token is None:
        return None
    return await run_in_threadpool(
        verify_access_token,
        token,
        settings=request.app.state.settings,
        keys=request.app.state.keys,
        session=session,
    )


def _verify_outside_transaction(request: Request, token: str) -> Principal:
    with session_scope(request.app.state.engine, write=False) as session:
        return verify_access_token(
            token, settings=request.app.state.settings, keys=request.app.state.keys, session=session
        )


async def principal_outside_transaction(
    request: Request, authorization: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal | None:
    """The caller, checked in a short read-only unit of work of its own, for routes
    that talk to another host before they write: no transaction (and, on SQLite, no
    write lock) stays open while they wait on the network."""
    token = _bearer(authorization)
    if token is None:
        return None
    return await run_in_threadpool(_verify_outside_transaction, request, token)


def _require_scopes(security_scopes: SecurityScopes, principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized(
            "this operation needs an access token",
            headers={"WWW-Authenticate": f'Bearer scope="{security_scopes.scope_str}"'},
        )
    missing = [s for s in security_scopes.scopes if not principal.has_scope(s)]
    if missing:
        raise Forbidden(f"the access token lacks the scope {' '.join(missing)}")
    return principal


async def authorized_principal(
    security_scopes: SecurityScopes,
    principal: Annotated[Principal | None, Depends(current_principal)],
) -> Principal:
    """The caller, who must hold every scope the route declares."""
    return _require_scopes(security_scopes, principal)


async def authorized_outside_transaction(
    security_scopes: SecurityScopes,
    principal: Annotated[Principal | None, Depends(principal_outside_transaction)],
) -> Principal:
    """As ``authorized_principal``, without holding a transaction open."""
    return _require_scopes(security_scopes, principal)


PrincipalDep = Annotated[Principal | None, Depends(current_principal)]
CatalogWriter = Annotated[Principal, Security(authorized_principal, scopes=["catalog:write"])]
SharingWriter = Annotated[Principal, Security(authorized_principal, scopes=["sharing:write"])]
Admin = Annotated[Principal, Security(authorized_principal, scopes=["admin"])]
# For routes that fetch from another host before writing (they open their own session).
CatalogWriterOutside = Annotated[
    Principal, Security(authorized_outside_transaction, scopes=["catalog:write"])
]
SharingWriterOutside = Annotated[
    Principal, Security(authorized_outside_transaction, scopes=["sharing:write"])
]
FederationReader = Annotated[Principal, Security(authorized_principal, scopes=["federation:read"])]
FederationWriter = Annotated[Principal, Security(authorized_principal, scopes=["federation:write"])]

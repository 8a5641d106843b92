"""The node's OAuth 2.0 authorization server: authlib's server classes, bound to our
clients, keys and tokens, behind a thin Starlette adapter.

authlib ships no FastAPI integration and its server is synchronous, so a request is
handled in two halves: ``handle`` reads the form on the event loop, then runs authlib in
a worker thread with its own database session. This is the only module that imports
authlib's server side; everything else speaks in our own models and errors.

Peer nodes authenticate with ``private_key_jwt`` (RFC 7523), which authlib calls
``client_assertion_jwt``; the checks (audience exactly the issuer, key from the peer's
pinned JWKS, ``jti`` remembered until expiry, short lifetime) live in
``registry.federation.client_auth``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    TokenMixin,
    UnsupportedGrantTypeError,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from fastapi import Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from registry.db import Bind, session_scope
from registry.errors import Unauthorized
from registry.oauth import service
from registry.oauth.assertions import PEER_ASSERTIONS
from registry.oauth.keys import ALGORITHM, KeyStore
from registry.oauth.models import OAuthClient
from registry.oauth.tokens import decode_access_token, issue_access_token, validate_access_token
from registry.principal import SCOPES
from registry.responses import JSONResponse
from registry.settings import Settings

GRANT_TYPES = ("client_credentials",)

# Client authentication methods, by authlib's names, that every endpoint accepts.
CLIENT_AUTH_METHODS: tuple[str, ...] = ("client_secret_basic", "client_assertion_jwt")

# authlib's method names as RFC 8414 metadata spells them.
_METADATA_NAMES = {
    "client_secret_basic": "client_secret_basic",
    "client_assertion_jwt": "private_key_jwt",
}
# And the registered method of a client (OAuthClient.auth_method) in authlib's terms.
_AUTHLIB_NAMES = {v: k for k, v in _METADATA_NAMES.items()}

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# A token request carries a handful of parameters; anything much larger is not one.
_MAX_FORM_FIELDS = 20

# Endpoint names, as authlib registers them.
TOKEN = "token"
INTROSPECTION = "introspection"
REVOCATION = "revocation"


def server_metadata(settings: Settings) -> dict[str, Any]:
    """The RFC 8414 authorization server metadata of this node."""
    issuer = settings.issuer
    methods = [_METADATA_NAMES[m] for m in CLIENT_AUTH_METHODS]
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "scopes_supported": list(SCOPES),
        # Only client credentials: there is no authorization endpoint, so no
        # response types.
        "response_types_supported": [],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
    }


# --- authlib's view of our objects -------------------------------------------------


class LumbungClient(ClientMixin):  # type: ignore[misc]
    """An ``OAuthClient`` row as authlib's client model."""

    def __init__(self, model: OAuthClient) -> None:
        self.model = model

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.model.scope.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        # Never asked: secrets are checked by AuthorizationServer._authenticate_basic,
        # which has the node's hashing key.
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Each client authenticates one way, the way it was registered, at every
        # endpoint: a peer with a pinned key cannot fall back to a secret.
        return _AUTHLIB_NAMES.get(self.model.auth_method) == method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES

    @property
    def is_admin(self) -> bool:
        return service.is_admin_client(self.model)


@dataclass
class AccessToken(TokenMixin):  # type: ignore[misc]
    """A decoded access token as authlib's token model."""

    claims: dict[str, Any]

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    def check_client(self, client: LumbungClient) -> bool:
        return self.client_id == client.get_client_id() or client.is_admin

    def get_scope(self) -> str:
        return str(self.claims["scope"])

    def get_expires_in(self) -> int:
        return int(self.claims["exp"]) - int(self.claims["iat"])

    # Only tokens that passed verification become AccessToken objects.
    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """A request already read on the event loop, handed to authlib in a thread."""

    def __init__(
        self, *, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


# --- grant and endpoints ------------------------------------------------------------


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(CLIENT_AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        # authlib only checks the server's list; a client may ask for no more than it
        # was registered with. No scope asks for all of them.
        requested = scope_to_list(self.request.payload.scope) or []
        allowed = self.client.model.scope.split()
        extra = [s for s in requested if s not in allowed]
        if extra:
            raise InvalidScopeError(
                description=f"this client may request only: {' '.join(allowed)}"
            )


class _TokenEndpoint:
    """What introspection and revocation share: how clients authenticate, and a
    ``token`` parameter whatever its ``token_type_hint``."""

    CLIENT_AUTH_METHODS = list(CLIENT_AUTH_METHODS)
    server: AuthorizationServer

    def check_params(self, request: OAuth2Request, client: LumbungClient) -> None:
        # authlib also refuses a token_type_hint it does not know; RFC 7009 §2.1 and
        # RFC 7662 §2.1 say a server may ignore the hint and search every type.
        if "token" not in request.form:
            raise InvalidRequestError(description="the token parameter is missing")


class IntrospectionEndpoint(_TokenEndpoint, _IntrospectionEndpoint):  # type: ignore[misc]
    """Any ``token_type_hint`` is ignored (RFC 7662 §2.1): there is one kind of token."""

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | None:
        server = self.server
        try:
            claims, _ = validate_access_token(
                token_string, settings=server.settings, keys=server.keys, session=server.session
            )
        except Unauthorized:
            return None
        return AccessToken(claims)

    def check_permission(
        self, token: AccessToken, client: LumbungClient, request: OAuth2Request
    ) -> bool:
        # A client may inspect its own tokens; the node's admin anyone's. Others are
        # told the token is inactive rather than that it exists.
        return token.check_client(client)

    def introspect_token(self, token: AccessToken) -> dict[str, Any]:
        claims = token.claims
        keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")
        payload = {name: claims[name] for name in keep}
        payload.update(active=True, token_type="Bearer")
        for extra in ("publisher", "node_id"):
            if extra in claims:
                payload[extra] = claims[extra]
        return payload


class RevocationEndpoint(_TokenEndpoint, _RevocationEndpoint):  # type: ignore[misc]
    """Revokes access tokens, the only kind this node issues. Any ``token_type_hint``
    is accepted and ignored, as RFC 7009 §2.1 allows: the token is looked for among
    every type the node has, and ``unsupported_token_type`` is never the answer,
    since the node can revoke every token it issues."""

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | None:
        server = self.server
        try:
            claims = decode_access_token(token_string, settings=server.settings, keys=server.keys)
        except Unauthorized:
            # RFC 7009 §2.2: an invalid or expired token is not an error.
            return None
        return AccessToken(claims)

    def authenticate_token(self, request: OAuth2Request, client: LumbungClient) -> Any:
        try:
            return super().authenticate_token(request, client)
        except InvalidGrantError:
            raise InvalidGrantError(description="the token was issued to another client") from None

    def revoke_token(self, token: AccessToken, request: OAuth2Request) -> None:
        service.record_revoked_token(
            self.server.session, token.claims["jti"], float(token.claims["exp"])
        )


# --- the server ---------------------------------------------------------------------


class BasicChallenge(InvalidClientError):  # type: ignore[misc]
    """``invalid_client`` with a Basic challenge that names its realm (RFC 7617 §2)."""

    def __init__(self, *, realm: str, description: str) -> None:
        super().__init__(status_code=401, description=description)
        self.realm = realm

    def get_headers(self) -> list[tuple[str, str]]:
        headers = [(k, v) for k, v in super().get_headers() if k.lower() != "www-authenticate"]
        challenge = f'Basic realm="{self.realm}", error="{self.error}"'
        return [*headers, ("WWW-Authenticate", challenge)]


class AuthorizationServer(_AuthorizationServer):  # type: ignore[misc]
    """One request's authorization server, bound to that request's session."""

    def __init__(self, *, session: Session, settings: Settings, keys: KeyStore) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.session = session
        self.settings = settings
        self.keys = keys
        self.register_client_auth_method("client_secret_basic", self._authenticate_basic)
        self.register_client_auth_method("client_assertion_jwt", self._authenticate_assertion)
        self.register_token_generator("default", self._generate_token)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)

    def query_client(self, client_id: str) -> LumbungClient | None:
        model = service.get_active_client(self.session, client_id)
        return LumbungClient(model) if model is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # Access tokens are self-contained JWTs: nothing to store until one is revoked.
        return None

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        return None

    def create_oauth2_request(self, request: StarletteOAuth2Request) -> StarletteOAuth2Request:
        return request

    def handle_response(
        self, status_code: int, payload: object, headers: list[tuple[str, str]]
    ) -> OAuthResponse:
        return OAuthResponse(status_code, payload if isinstance(payload, dict) else {}, headers)

    def authenticate_client(
        self, request: OAuth2Request, methods: list[str], endpoint: str = TOKEN
    ) -> LumbungClient:
        try:
            client: LumbungClient = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as exc:
            if "client_assertion" in request.form:
                raise
            # RFC 6749 §5.2: 401 with a challenge for the scheme the client should use.
            # Credentials that were sent but refused get a different hint from none at
            # all: the fix is another secret, not another way of sending it. (Which of
            # id and secret was wrong is not said: that would tell which ids exist.)
            if basic_credentials(request.headers.get("Authorization")) is not None:
                description = "the client id or secret is wrong, or the client has been revoked"
            else:
                description = (
                    "no client credentials; send the client id and secret with HTTP "
                    "Basic authentication"
                )
            raise BasicChallenge(realm=self.settings.issuer, description=description) from exc
        return client

    def _authenticate_assertion(
        self, query_client: Callable[[str], LumbungClient | None], request: OAuth2Request
    ) -> LumbungClient | None:
        check = PEER_ASSERTIONS.get()
        model = check.authenticate_assertion(self.session, self.settings, request.form)
        return LumbungClient(model) if model is not None else None

    def _authenticate_basic(
        self, query_client: Callable[[str], LumbungClient | None], request: OAuth2Request
    ) -> LumbungClient | None:
        # Replaces authlib's own, whose quick answer for an unknown client id would
        # tell an attacker which ids exist.
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is None:
            return None
        client_id, secret = credentials
        model = service.authenticate_secret(self.session, self.settings, client_id, secret)
        return LumbungClient(model) if model is not None else None

    def _generate_token(
        self,
        grant_type: str,
        client: LumbungClient,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        # The lifetime is ours, never authlib's default of ten days; no refresh tokens.
        return issue_access_token(
            settings=self.settings,
            keys=self.keys,
            client=client.model,
            scope=client.get_allowed_scope(scope),
        )


def create_server(*, session: Session, settings: Settings, keys: KeyStore) -> AuthorizationServer:
    return AuthorizationServer(session=session, settings=settings, keys=keys)


# --- the Starlette adapter ----------------------------------------------------------


@dataclass
class OAuthResponse:
    status_code: int
    body: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)

    def to_starlette(self) -> JSONResponse:
        headers = {k: v for k, v in self.headers if k.lower() != "content-type"}
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


async def handle(request: Request, endpoint: str) -> JSONResponse:
    """Answer a request to the token, introspection or revocation endpoint."""
    form, problem = await _read_form(request)
    if problem is not None:
        return _error(problem).to_starlette()
    app_state = request.app.state
    # authlib refuses a request whose URL is not https. This process cannot know:
    # TLS is terminated by the reverse proxy in front of it, and development nodes and
    # tests run on plain http on purpose. The URL serves no other purpose in the
    # client credentials flow, so authlib is given the https form of the node's URL.
    uri = f"https://{urlsplit(app_state.settings.issuer).netloc}{request.url.path}"
    response = await run_in_threadpool(
        _dispatch,
        engine=app_state.engine,
        settings=app_state.settings,
        keys=app_state.keys,
        endpoint=endpoint,
        method=request.method,
        uri=uri,
        headers=request.headers,
        form=form,
    )
    return response.to_starlette()


def _dispatch(
    *,
    engine: Bind,
    settings: Settings,
    keys: KeyStore,
    endpoint: str,
    method: str,
    uri: str,
    headers: Mapping[str, str],
    form: dict[str, str],
) -> OAuthResponse:
    if endpoint == TOKEN and not form.get("grant_type"):
        # authlib would call this an unsupported grant type; RFC 6749 §5.2 says a
        # missing parameter makes an invalid request.
        return _error(InvalidRequestError(description="the grant_type parameter is missing"))
    if endpoint == TOKEN and form["grant_type"] not in GRANT_TYPES:
        unsupported = UnsupportedGrantTypeError(form["grant_type"])
        unsupported.description = f"this node supports only {', '.join(GRANT_TYPES)}"
        return _error(unsupported)
    try:
        oauth_request = StarletteOAuth2Request(method=method, uri=uri, headers=headers, form=form)
    except OAuth2Error as exc:
        return _error(exc)
    if "client_assertion" in form:
        # A peer's keys are fetched again (when its assertion names a key not cached)
        # before this request's transaction begins: nothing talks to another node
        # while a write transaction is open (DESIGN §7).
        PEER_ASSERTIONS.get().refresh_assertion_keys(engine, settings, form)
    # Revocation writes; the others only read, and need not queue for SQLite's lock.
    # A client assertion's jti is recorded: a write.
    writes = endpoint == REVOCATION or "client_assertion" in form
    with session_scope(engine, write=writes) as session:
        server = create_server(session=session, settings=settings, keys=keys)
        if endpoint == TOKEN:
            response: OAuthResponse = server.create_token_response(oauth_request)
        else:
            response = server.create_endpoint_response(endpoint, oauth_request)
        return response


async def _read_form(request: Request) -> tuple[dict[str, str], OAuth2Error | None]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        return {}, InvalidRequestError(description=f"send the parameters as {FORM_MEDIA_TYPE}")
    try:
        raw = await request.form(max_files=0, max_fields=_MAX_FORM_FIELDS)
    except (HTTPException, MultiPartException, UnicodeDecodeError):
        return {}, InvalidRequestError(description="the request body is not a valid form")
    form: dict[str, str] = {}
    for name, value in raw.multi_items():
        # RFC 6749 §3.2: parameters must not be repeated.
        if name in form:
            return {}, InvalidRequestError(description=f"parameter {_printable(name)} is repeated")
        if not isinstance(value, str):  # pragma: no cover - no files in urlencoded forms
            return {}, InvalidRequestError(description=f"parameter {_printable(name)} must be text")
        form[name] = value
    return form, None


def _printable(text: str) -> str:
    # Error descriptions may hold only printable ASCII without quotes or backslashes
    # (RFC 6749 §5.2); authlib raises on anything else.
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text[:40])


def _error(error: OAuth2Error) -> OAuthResponse:
    status, body, headers = error()
    return OAuthResponse(status, body, headers)


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """The client id and secret of an HTTP Basic ``Authorization`` header (RFC 7617,
    each part form-encoded as RFC 6749 §2.3.1 asks), or None when there is none or it
    is not well-formed. authlib's parser lets bytes that are not UTF-8 escape as an
    exception, which made such a header a 500 instead of an unknown client."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        return None
    return unquote(client_id), unquote(secret)

"""OAuth 2.0 client credentials: getting, caching and renewing access tokens.

Two ways to authenticate at the node's token endpoint:

* ``client_secret_basic`` — a service account's id and secret (city CI pipelines);
* ``private_key_jwt`` (RFC 7523) — a signed assertion, for peer nodes and for service
  accounts registered with a public key. Each assertion is built here with joserfc,
  with a fresh random ``jti``, since the node refuses an assertion it has seen before.

Tokens are fetched on first use and renewed shortly before they expire
(``_async/_auth.py``). When many threads (or tasks) need a token at once, one fetches it
while the others wait, so the node sees one token request, not a burst. Tokens and
secrets never appear in ``repr``, ``str`` or log messages.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx2
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from lumbung_client._exceptions import APIError, LumbungError, Unauthorized

__all__ = ["ClientSecret", "Credentials", "PrivateKey", "load_private_key"]

METADATA_PATH = "/.well-known/oauth-authorization-server"
TOKEN_PATH = "/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# An assertion only has to survive the trip to the token endpoint.
ASSERTION_LIFETIME = 60
# Renew this many seconds before expiry (at most a fifth of the token's lifetime).
RENEW_MARGIN = 30.0

PrivateKeyInput = Key | Mapping[str, Any] | str | bytes | os.PathLike[str]


class Credentials:
    """How the client proves who it is at the token endpoint."""

    #: The OAuth client id.
    client_id: str
    #: True when building a request needs the node's issuer (the assertion's audience).
    needs_issuer: bool = False

    def headers(self) -> dict[str, str]:
        """Headers that authenticate a token request."""
        return {}

    def form(self, issuer: str | None) -> dict[str, str]:
        """Form fields (besides ``grant_type``) that authenticate a token request."""
        return {}


class ClientSecret(Credentials):
    """A client id and secret, sent with HTTP Basic (``client_secret_basic``)."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret

    def headers(self) -> dict[str, str]:
        """The Basic ``Authorization`` header."""
        # RFC 6749 section 2.3.1: form-encode both parts before joining them.
        pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def __repr__(self) -> str:
        return f"ClientSecret(client_id={self.client_id!r}, client_secret='***')"


class PrivateKey(Credentials):
    """A signing key whose public half the node knows (``private_key_jwt``, RFC 7523)."""

    needs_issuer = True

    def __init__(self, client_id: str, key: PrivateKeyInput, *, algorithm: str | None = None):
        self.client_id = client_id
        self._key = load_private_key(key)
        self._key.ensure_kid()
        self.algorithm = algorithm or _algorithm_for(self._key)

    @property
    def kid(self) -> str:
        """The key id put in each assertion's header."""
        return str(self._key.kid)

    def assertion(self, audience: str, *, now: float | None = None) -> str:
        """A signed client assertion for the token endpoint of ``audience``."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            # A fresh jti each time: the node remembers jtis and refuses a replay.
            "jti": secrets.token_urlsafe(24),
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
        }
        header = {"alg": self.algorithm, "kid": self.kid}
        return jwt.encode(header, claims, self._key, algorithms=[self.algorithm])

    def form(self, issuer: str | None) -> dict[str, str]:
        """Form fields carrying a fresh assertion whose audience is ``issuer``."""
        if issuer is None:
            raise LumbungError("private_key_jwt needs the node's issuer")
        return {
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(issuer),
        }

    def __repr__(self) -> str:
        return f"PrivateKey(client_id={self.client_id!r}, kid={self.kid!r})"


def load_private_key(key: PrivateKeyInput) -> Key:
    """A joserfc key from a JWK (dict or JSON text), PEM text or bytes, or a file path."""
    if isinstance(key, OctKey):
        raise ValueError("private_key_jwt needs an asymmetric key (EC, RSA or OKP)")
    if isinstance(key, ECKey | RSAKey | OKPKey):
        if not key.is_private:
            raise ValueError("this is a public key; a private key is needed")
        return key
    if isinstance(key, os.PathLike):
        key = Path(key).read_bytes()
    if isinstance(key, Mapping):
        return _import_jwk(dict(key))
    text = key.decode() if isinstance(key, bytes) else key
    stripped = text.strip()
    if stripped.startswith("{"):
        return _import_jwk(json.loads(stripped))
    if stripped.startswith("-----BEGIN"):
        data = stripped.encode()
        # Try each asymmetric type in turn; naming no type makes joserfc warn.
        for cls in (ECKey, RSAKey, OKPKey):
            try:
                imported: Key = cls.import_key(data)
            except Exception:  # joserfc raises assorted types for a key of another kind
                continue
            if not getattr(imported, "is_private", False):
                raise ValueError("the PEM holds a public key; a private key is needed")
            return imported
        raise ValueError("the PEM holds no EC, RSA or OKP private key")
    raise ValueError("private_key must be a JWK (dict or JSON), PEM text, or a path")


def _import_jwk(data: dict[str, Any]) -> Key:
    kty = data.get("kty")
    classes: dict[str, type[ECKey] | type[RSAKey] | type[OKPKey]] = {
        "EC": ECKey,
        "RSA": RSAKey,
        "OKP": OKPKey,
    }
    if kty not in classes:
        raise ValueError(f"unsupported JWK key type {kty!r}; use EC, RSA or OKP")
    key: Key = classes[str(kty)].import_key(data)
    if not key.is_private:
        raise ValueError("the JWK is a public key; a private key is needed")
    return key


def _algorithm_for(key: Key) -> str:
    alg = key.alg
    if alg:
        return alg
    if isinstance(key, ECKey):
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(
            str(key.get("crv")), "ES256"
        )
    if isinstance(key, RSAKey):
        return "RS256"
    return "EdDSA"


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float
    scope: str | None = None

    def fresh(self, now: float) -> bool:
        return now < self.expires_at


def parse_token(response: httpx2.Response, now: float) -> Token:
    try:
        body = response.json()
        value = str(body["access_token"])
        lifetime = float(body.get("expires_in") or 60)
    except (ValueError, KeyError, TypeError):
        raise Unauthorized(
            response.status_code,
            title="Unusable token response",
            detail="the token endpoint did not return an access_token",
            method="POST",
            url=str(response.request.url),
        ) from None
    margin = min(RENEW_MARGIN, lifetime / 5)
    scope = body.get("scope")
    return Token(value, now + lifetime - margin, str(scope) if scope else None)


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, not verified.

    Only for learning facts about the caller's own identity (its publisher) to choose
    which record to ask for; the node checks every request, so a wrong answer here can
    only lead to a refused request, never to a wrong one succeeding.
    """
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def token_publisher(token: str) -> uuid.UUID | None:
    """The publisher a service account acts for, from its access token's claims
    (unverified; see :func:`unverified_claims`)."""
    value = unverified_claims(token).get("publisher")
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def token_form(credentials: Credentials, issuer: str | None, scope: str | None) -> bytes:
    """The token request's body; built afresh per try, so each assertion is new."""
    form = {"grant_type": "client_credentials", **credentials.form(issuer)}
    if scope:
        form["scope"] = scope
    return urlencode(form).encode()


def token_headers(credentials: Credentials) -> dict[str, str]:
    return {**credentials.headers(), "Content-Type": "application/x-www-form-urlencoded"}


def refused(exc: APIError) -> APIError:
    """A refused token request (wrong secret, unknown client, bad assertion or scope)
    is an :class:`Unauthorized`, whatever 4xx the token endpoint chose."""
    if not 400 <= exc.status < 500 or exc.status == 429:
        return exc
    return Unauthorized(
        exc.status,
        title=exc.title or "Token request refused",
        detail=exc.detail or "the node refused these client credentials",
        type=exc.type,
        method=exc.method,
        url=exc.url,
        headers=exc.headers,
        body=exc.body,
    )

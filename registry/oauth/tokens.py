"""Access tokens: JWTs in the RFC 9068 profile, signed with the node's ES256 key.

A token names its client, the client's publisher (or peer node), its scopes and an
id (``jti``). It is valid for ``settings.access_token_lifetime`` seconds, unless its
``jti`` has been revoked or its client revoked since.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlmodel import Session

from registry.errors import Unauthorized
from registry.oauth.keys import ALGORITHM, KeyStore
from registry.oauth.models import OAuthClient
from registry.oauth.service import get_active_client, is_token_revoked
from registry.principal import Principal
from registry.settings import Settings

TOKEN_TYPE = "at+jwt"
# RFC 9068 §4: the media type may also be written in full; media types ignore case.
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# No token of this node ever lives longer, whatever the settings say (DESIGN §3).
MAX_LIFETIME = 300
# Replicas of one node sign and verify with their own clocks; allow them to disagree
# by a few seconds.
CLOCK_LEEWAY = 5


def issue_access_token(
    *, settings: Settings, keys: KeyStore, client: OAuthClient, scope: str
) -> dict[str, Any]:
    """Sign an access token for ``client`` and return the RFC 6749 §5.1 response."""
    lifetime = min(settings.access_token_lifetime, MAX_LIFETIME)
    key = keys.signing_key
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.issuer,
        "sub": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(24),
        "scope": scope,
    }
    if client.publisher_id is not None:
        claims["publisher"] = str(client.publisher_id)
    if client.node_id is not None:
        claims["node_id"] = client.node_id
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key.kid}
    token = jwt.encode(header, claims, key, algorithms=[ALGORITHM])
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }


def decode_access_token(token: str, *, settings: Settings, keys: KeyStore) -> dict[str, Any]:
    """Check a token's header, signature and claims; return the claims.

    Does not look at the database: revocations are checked by ``verify_access_token``.
    """
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise Unauthorized("the access token is not a well-formed JWT") from exc
    # Checked before the signature: a token of another type (an ID token, a peer's
    # client assertion) signed by a key we know must still not pass as an access token.
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
        raise Unauthorized("the token is not an access token (typ must be at+jwt)")
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"access tokens of this node are signed with {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise Unauthorized("the access token names no signing key (kid)")
    key = keys.find(kid)
    if key is None:
        raise Unauthorized("the access token was signed by a key this node does not know")
    claims = checked_claims(
        token,
        key,
        "the access token",
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": settings.issuer},
        aud={"essential": True, "value": settings.issuer},
        sub={"essential": True},
        client_id={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
        scope={"essential": True, "allow_blank": True},
    )
    # joserfc accepts an audience list that merely contains the expected value; a
    # token of this node names exactly one audience, this node.
    if claims["aud"] != settings.issuer:
        raise Unauthorized("the access token is meant for another audience")
    if not all(isinstance(claims[c], str) for c in ("client_id", "scope")):
        raise Unauthorized("the access token's client_id and scope must be strings")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise Unauthorized("the access token lives longer than this node allows")
    publisher = claims.get("publisher")
    if publisher is not None:
        try:
            uuid.UUID(str(publisher))
        except ValueError as exc:
            raise Unauthorized("the access token names an invalid publisher") from exc
    return claims


def checked_claims(
    token: str, key: ECKey, what: str, *, leeway: int, **expected: jwt.ClaimsOption
) -> dict[str, Any]:
    """The claims of a JWT that ``key`` signed, checked against ``expected``
    (joserfc's claim options); an error calls the token ``what``."""
    try:
        # The explicit algorithm list matters: joserfc's default also accepts HS256,
        # which would let the public key be used as an HMAC secret.
        claims = dict(jwt.decode(token, key, algorithms=[ALGORITHM]).claims)
    except JoseError as exc:
        raise Unauthorized(f"{what}'s signature is not valid") from exc
    try:
        # The clock and the leeway by position, so no option can be taken for them.
        jwt.JWTClaimsRegistry(None, leeway, **expected).validate(claims)
    except JoseError as exc:
        raise Unauthorized(f"{what} is not valid: {exc.description}") from exc
    return claims


def validate_access_token(
    token: str, *, settings: Settings, keys: KeyStore, session: Session
) -> tuple[dict[str, Any], OAuthClient]:
    """Decode a token and check it has not been revoked, nor its client."""
    claims = decode_access_token(token, settings=settings, keys=keys)
    if is_token_revoked(session, claims["jti"]):
        raise Unauthorized("the access token has been revoked")
    client = get_active_client(session, claims["client_id"])
    if client is None:
        raise Unauthorized("the access token's client is unknown or has been revoked")
    return claims, client


def verify_access_token(
    token: str, *, settings: Settings, keys: KeyStore, session: Session
) -> Principal:
    """The caller an access token stands for; ``Unauthorized`` if it is not valid."""
    claims, client = validate_access_token(token, settings=settings, keys=keys, session=session)
    # A token never grants more than its client holds now.
    scopes = frozenset(claims["scope"].split()) & frozenset(client.scope.split())
    publisher = claims.get("publisher")
    return Principal(
        client_id=claims["client_id"],
        scopes=scopes,
        publisher_id=uuid.UUID(publisher) if publisher is not None else None,
        node_id=claims.get("node_id"),
        token_id=claims["jti"],
    )

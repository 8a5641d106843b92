"""Signed messages between nodes: client assertions (RFC 7523 ``private_key_jwt``)
and federation requests, both JWTs signed with the node's key.

A receiver checks them against the sender's JWKS, fetched from the ``jwks_uri`` pinned
when the sender was added as a peer, cached in the database and fetched again on an
unknown ``kid`` (at most once a minute). The rules: ES256 only, ``kid`` required,
``aud`` exactly this node's issuer (one string), ``exp − iat`` at most 300 s, and each
``jti`` accepted once until it expires — remembered in the database, so the rule holds
across every worker of the node.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlmodel import Session, col, select

from registry.db import Bind, session_scope, utcnow
from registry.errors import Unauthorized
from registry.federation.models import SeenAssertion
from registry.federation.transport import PeerError, new_client, request_json
from registry.oauth.keys import ALGORITHM, KeyStore
from registry.oauth.tokens import checked_claims
from registry.peers import Peer
from registry.settings import Settings

FEDERATION_TYP = "lumbung-fed+jwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 300
LIFETIME = 60
LEEWAY = 5
# An unknown kid triggers a fetch of the peer's JWKS no more often than this.
REFETCH_AFTER = timedelta(seconds=60)
# Keys are fetched again when the cache is older than this, so a key the peer has
# withdrawn stops being trusted.
CACHE_FOR = timedelta(hours=1)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def body_hash(body: bytes) -> str:
    return _b64(hashlib.sha256(body).digest())


def _sign(keys: KeyStore, claims: dict[str, Any], typ: str) -> str:
    key = keys.signing_key
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": typ}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


def _base_claims(issuer: str, audience: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + LIFETIME,
        "jti": secrets.token_urlsafe(24),
    }


def client_assertion(keys: KeyStore, *, client_id: str, audience: str) -> str:
    """An RFC 7523 client assertion: this node authenticating to a peer's token
    endpoint as the OAuth client ``client_id``."""
    claims = _base_claims(client_id, audience)
    return _sign(keys, claims, "JWT")


def federation_request(
    settings: Settings, keys: KeyStore, *, audience: str, method: str, path: str, body: bytes
) -> str:
    """A signed federation request: proves this node sent exactly this body to
    exactly this endpoint of ``audience``."""
    claims = _base_claims(settings.issuer, audience)
    claims.update(htm=method.upper(), htu=path, bh=body_hash(body))
    return _sign(keys, claims, FEDERATION_TYP)


# --- verification ------------------------------------------------------------------


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWT, before any check."""
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise Unauthorized("the assertion is not a well-formed JWT") from exc
    if not isinstance(claims, dict):
        raise Unauthorized("the assertion's payload is not a JSON object")
    return dict(compact.headers()), claims


def peer_for(session: Session, node_id: object) -> Peer:
    if not isinstance(node_id, str) or not node_id:
        raise Unauthorized("the assertion names no issuer")
    peer = session.exec(select(Peer).where(Peer.node_id == node_id)).first()
    if peer is None:
        raise Unauthorized("the sender is not a peer of this node")
    return peer


def verify(
    session: Session,
    token: str,
    *,
    settings: Settings,
    peer: Peer,
    issuer: str,
    typ: str | None = None,
) -> dict[str, Any]:
    """Check a JWT signed by ``peer``'s key and issued by ``issuer``; return its claims.
    Raises ``Unauthorized`` for anything short of perfect."""
    header, _ = unverified_parts(token)
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"assertions must be signed with {ALGORITHM}")
    if typ is not None and str(header.get("typ", "")).lower() != typ:
        raise Unauthorized(f"the assertion's typ must be {typ}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        raise Unauthorized("the assertion names no signing key (kid)")
    if "jku" in header or "jwk" in header or "x5u" in header:
        raise Unauthorized("keys are taken from the peer's pinned JWKS, not from the header")
    key = peer_key(session, peer, kid)
    if key is None:
        raise Unauthorized("the assertion was signed by a key the peer does not publish")
    claims = checked_claims(
        token,
        key,
        "the assertion",
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    # One audience, this node: an array naming others too would let the same token be
    # replayed at every server it names.
    if claims["aud"] != settings.issuer:
        raise Unauthorized("the assertion's aud must be exactly this node's issuer")
    if not all(isinstance(claims[c], int) for c in ("exp", "iat")):
        raise Unauthorized("exp and iat must be integers")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise Unauthorized(f"the assertion may live at most {MAX_LIFETIME} s")
    if claims["iat"] > time.time() + LEEWAY:
        raise Unauthorized("the assertion was issued in the future")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 8 <= len(jti) <= 200:
        raise Unauthorized("the assertion's jti must be a string of 8 to 200 characters")
    remember_once(session, issuer, jti, claims["exp"])
    return claims


def verify_federation_request(
    session: Session,
    token: str,
    *,
    settings: Settings,
    method: str,
    path: str,
    body: bytes,
) -> Peer:
    """Check a signed federation request and return the peer that sent it."""
    _, unverified = unverified_parts(token)
    peer = peer_for(session, unverified.get("iss"))
    claims = verify(
        session, token, settings=settings, peer=peer, issuer=peer.node_id, typ=FEDERATION_TYP
    )
    if claims.get("htm") != method.upper() or claims.get("htu") != path:
        raise Unauthorized("the signed request was made for another endpoint")
    if claims.get("bh") != body_hash(body):
        raise Unauthorized("the request body is not the one that was signed")
    return peer


def remember_once(session: Session, issuer: str, jti: str, exp: int) -> None:
    """Record an assertion id; refuse one already seen (a replay)."""
    key = hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()
    now = utcnow()
    session.execute(sa.delete(SeenAssertion).where(col(SeenAssertion.expires_at) < now))
    if session.get(SeenAssertion, key) is not None:
        raise Unauthorized("the assertion has already been used")
    expires_at = datetime.fromtimestamp(exp + LEEWAY, UTC)
    try:
        with session.begin_nested():
            session.add(SeenAssertion(key=key, expires_at=expires_at))
            session.flush()
    except sa.exc.IntegrityError:
        # Another worker took the same assertion at the same moment.
        raise Unauthorized("the assertion has already been used") from None


def peer_key(session: Session, peer: Peer, kid: str) -> ECKey | None:
    """The peer's public key ``kid`` from the cached JWKS; None when it is not there or
    the cache is too old to trust. Never fetches: ``refresh_keys`` does, beforehand,
    outside any transaction."""
    fetched = peer.jwks_fetched_at
    if fetched is None or utcnow() - fetched > CACHE_FOR:
        return None
    return _find(peer.jwks, kid)


def keys_due(peer: Peer, kid: str) -> bool:
    """Whether the peer's JWKS should be fetched before ``kid`` is checked: the cache
    is old, or it lacks ``kid`` and was not fetched in the last minute (a peer that
    rotated its key is believed soon; a stream of made-up kids costs a fetch a minute)."""
    now = utcnow()
    fetched = peer.jwks_fetched_at
    if fetched is None or now - fetched > CACHE_FOR:
        return True
    return _find(peer.jwks, kid) is None and now - fetched > REFETCH_AFTER


def refresh_keys(bind: Bind, node_id: str, kid: str, allow: Sequence[str]) -> None:
    """Fetch a peer's JWKS again when checking ``kid`` needs it, and cache it.

    Call it before the caller's own transaction begins: the fetch runs with no
    transaction open, so a slow peer never holds this node's write lock (DESIGN §7);
    the keys are stored in a short unit of work of their own. A failed fetch leaves the
    cache as it was, and verification then decides with what is cached.
    """
    with session_scope(bind, write=False) as session:
        peer = session.exec(select(Peer).where(Peer.node_id == node_id)).first()
        if peer is None or not keys_due(peer, kid):
            return
        jwks_uri = peer.jwks_uri
    try:
        jwks = fetch_jwks(jwks_uri, allow)
    except PeerError:
        return
    with session_scope(bind) as session:
        peer = session.exec(select(Peer).where(Peer.node_id == node_id)).first()
        if peer is None or peer.jwks_uri != jwks_uri:
            return  # the peer was removed or re-added meanwhile
        peer.jwks = jwks
        peer.jwks_fetched_at = utcnow()
        session.add(peer)


def refresh_signer_keys(bind: Bind, token: str, allow: Sequence[str]) -> None:
    """``refresh_keys`` for the peer that a signed federation request says sent it;
    nothing for a token too broken to name one (verification refuses it later)."""
    try:
        header, claims = unverified_parts(token)
    except Unauthorized:
        return
    node_id, kid = claims.get("iss"), header.get("kid")
    if isinstance(node_id, str) and isinstance(kid, str) and node_id and kid:
        refresh_keys(bind, node_id, kid, allow)


def fetch_jwks(url: str, allow: Sequence[str]) -> dict[str, Any]:
    with new_client(allow) as client:
        _, payload = request_json(client, "GET", url)
    if not isinstance(payload, dict) or not isinstance(payload.get("keys"), list):
        raise PeerError(f"{url}: not a JWKS document", retry=False)
    return {"keys": [k for k in payload["keys"] if isinstance(k, dict)]}


def public_keys(jwks: dict[str, Any]) -> list[ECKey]:
    """The usable signing keys in a JWKS: public P-256 keys with a kid."""
    found = []
    for item in jwks.get("keys", []):
        if not isinstance(item, dict) or item.get("kty") != "EC" or "d" in item:
            continue
        try:
            key = ECKey.import_key(item)
        except (JoseError, ValueError, TypeError):
            continue
        if key.curve_name == "P-256" and key.kid:
            found.append(key)
    return found


def thumbprints(jwks: dict[str, Any]) -> list[str]:
    """RFC 7638 thumbprints of the keys in a JWKS, for out-of-band confirmation."""
    return [key.thumbprint() for key in public_keys(jwks)]


def _find(jwks: dict[str, Any], kid: str) -> ECKey | None:
    for key in public_keys(jwks):
        if key.kid == kid:
            return key
    return None

"""Every check of a signed federation request, one by one.

tests/federation/test_signed_requests.py sends requests signed by another key to each
endpoint; here the verifier is called directly with a peer whose keys are cached, and
each other way a request can differ from what the peer signed (endpoint, body,
audience, lifetime, jti, issuer, header) must be refused, while the request signed
correctly passes (or the refusals prove nothing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlmodel import Session

from registry.db import utcnow
from registry.errors import Unauthorized
from registry.federation.models import Peer
from registry.federation.signing import (
    FEDERATION_TYP,
    body_hash,
    federation_request,
    verify_federation_request,
)
from registry.oauth.keys import KeyStore
from registry.settings import Settings, load_settings

PEER = "https://pariaman.example"
OTHER_PEER = "https://surabaya.example"
PATH = "/federation/v1/notify"
BODY = b'{"reason": "changes"}'


def _peer_row(session: Session, node_id: str, keys: KeyStore) -> Peer:
    peer = Peer(
        node_id=node_id,
        name=node_id,
        api_base=f"{node_id}/api/v1",
        issuer=node_id,
        jwks_uri=f"{node_id}/.well-known/jwks.json",
        feed_url=f"{node_id}/federation/v1/changes",
        token_endpoint=f"{node_id}/oauth/token",
        jwks=keys.public_jwks(),
        # Fetched just now: an unknown kid is not fetched again, so nothing here
        # leaves the process.
        jwks_fetched_at=utcnow(),
    )
    session.add(peer)
    session.commit()
    return peer


@pytest.fixture
def peer_keys(tmp_path: Path) -> KeyStore:
    return KeyStore.open(tmp_path / "peer-keys")


@pytest.fixture
def peer_settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "peer", base_url=PEER)


@pytest.fixture
def peer(session: Session, peer_keys: KeyStore) -> Peer:
    return _peer_row(session, PEER, peer_keys)


def _claims(settings: Settings, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": PEER,
        "sub": PEER,
        "aud": settings.issuer,
        "iat": now,
        "exp": now + 60,
        "jti": f"jti-{time.monotonic_ns()}",
        "htm": "POST",
        "htu": PATH,
        "bh": body_hash(BODY),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: ECKey, claims: dict[str, Any], **header: Any) -> str:
    head = {"alg": "ES256", "kid": key.kid, "typ": FEDERATION_TYP}
    head.update(header)
    head = {k: v for k, v in head.items() if v is not None}
    return jwt.encode(head, claims, key, algorithms=[head.get("alg", "ES256")])


def _verify(session: Session, settings: Settings, token: str, **request: Any) -> Peer:
    return verify_federation_request(
        session,
        token,
        settings=settings,
        method=request.get("method", "POST"),
        path=request.get("path", PATH),
        body=request.get("body", BODY),
    )


def test_a_request_signed_by_the_peer_is_accepted(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore, peer_settings
) -> None:
    token = federation_request(
        peer_settings, peer_keys, audience=settings.issuer, method="POST", path=PATH, body=BODY
    )
    assert _verify(session, settings, token).id == peer.id
    claims = _claims(settings)
    assert _verify(session, settings, _token(peer_keys.signing_key, claims)).id == peer.id


def _impostor_key(kid: str | None) -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"kid": kid} if kid else None)
    return key


# Each forgery or alteration, and what it stands for.
FORGERIES: dict[str, Callable[[Settings, KeyStore], str]] = {
    # Signed by a key the peer never published, under the peer's own kid.
    "another key, the peer's kid": lambda s, k: _token(
        _impostor_key(k.signing_key.kid), _claims(s)
    ),
    "another key, an unknown kid": lambda s, k: _token(_impostor_key("not-published"), _claims(s)),
    "for another method": lambda s, k: _token(k.signing_key, _claims(s, htm="DELETE")),
    "for another path": lambda s, k: _token(
        k.signing_key, _claims(s, htu="/federation/v1/adoptions")
    ),
    "for another body": lambda s, k: _token(k.signing_key, _claims(s, bh=body_hash(b"{}"))),
    "without a body hash": lambda s, k: _token(k.signing_key, _claims(s, bh=None)),
    "for another node": lambda s, k: _token(k.signing_key, _claims(s, aud=OTHER_PEER)),
    "for several nodes": lambda s, k: _token(k.signing_key, _claims(s, aud=[s.issuer, OTHER_PEER])),
    "expired": lambda s, k: _token(
        k.signing_key,
        _claims(s, iat=int(time.time()) - 200, exp=int(time.time()) - 100),
    ),
    "living too long": lambda s, k: _token(k.signing_key, _claims(s, exp=int(time.time()) + 3600)),
    "issued in the future": lambda s, k: _token(
        k.signing_key, _claims(s, iat=int(time.time()) + 120, exp=int(time.time()) + 180)
    ),
    "without jti": lambda s, k: _token(k.signing_key, _claims(s, jti=None)),
    "with a short jti": lambda s, k: _token(k.signing_key, _claims(s, jti="short")),
    "without exp": lambda s, k: _token(k.signing_key, _claims(s, exp=None)),
    "issued by a node that is not a peer": lambda s, k: _token(
        k.signing_key, _claims(s, iss="https://stranger.example")
    ),
    "without issuer": lambda s, k: _token(k.signing_key, _claims(s, iss=None)),
    "of another type": lambda s, k: _token(k.signing_key, _claims(s), typ="JWT"),
    "naming no key": lambda s, k: _token(k.signing_key, _claims(s), kid=None),
    "bringing its own key url": lambda s, k: _token(
        k.signing_key, _claims(s), jku="https://evil.example/jwks.json"
    ),
    "bringing its own key": lambda s, k: _token(
        k.signing_key, _claims(s), jwk=dict(k.public_jwks()["keys"][0])
    ),
    "bringing its own certificate url": lambda s, k: _token(
        k.signing_key, _claims(s), x5u="https://evil.example/cert.pem"
    ),
    "naming an overlong key id": lambda s, k: _token(k.signing_key, _claims(s), kid="k" * 201),
    "not a JWT": lambda s, k: "not.a.jwt",
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_altered_request_is_refused(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore, forgery: str
) -> None:
    token = FORGERIES[forgery](settings, peer_keys)
    with pytest.raises(Unauthorized):
        _verify(session, settings, token)


def test_an_hmac_token_keyed_with_the_public_key_is_refused(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore
) -> None:
    # The classic algorithm confusion: HS256 with the peer's public key as the secret.
    from joserfc.jwk import OctKey

    public = json.dumps(peer_keys.public_jwks()["keys"][0]).encode()
    secret = OctKey.import_key(public)
    head = {"alg": "HS256", "kid": peer_keys.signing_key.kid, "typ": FEDERATION_TYP}
    token = jwt.encode(head, _claims(settings), secret, algorithms=["HS256"])
    with pytest.raises(Unauthorized):
        _verify(session, settings, token)


def test_a_request_is_accepted_once(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore
) -> None:
    token = _token(peer_keys.signing_key, _claims(settings))
    _verify(session, settings, token)
    with pytest.raises(Unauthorized, match="already been used"):
        _verify(session, settings, token)


def test_a_peer_cannot_sign_in_another_peer_s_name(
    session: Session, settings: Settings, peer: Peer, tmp_path: Path
) -> None:
    other_keys = KeyStore.open(tmp_path / "other-keys")
    _peer_row(session, OTHER_PEER, other_keys)
    # Surabaya signs with its own key but claims to be Pariaman.
    token = _token(other_keys.signing_key, _claims(settings, iss=PEER, sub=PEER))
    with pytest.raises(Unauthorized):
        _verify(session, settings, token)
    # Signed as itself, it is itself, never Pariaman.
    own = _token(other_keys.signing_key, _claims(settings, iss=OTHER_PEER, sub=OTHER_PEER))
    assert _verify(session, settings, own).node_id == OTHER_PEER


def test_a_withdrawn_key_is_not_trusted_from_a_stale_cache(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore, monkeypatch
) -> None:
    # The cache is older than its lifetime and the peer cannot be reached: the old keys
    # are not used to accept a request.
    from registry.federation import signing
    from registry.federation.transport import PeerError

    def unreachable(url: str) -> dict[str, Any]:
        raise PeerError(f"{url}: unreachable")

    monkeypatch.setattr(signing, "fetch_jwks", unreachable)
    peer.jwks_fetched_at = utcnow() - signing.CACHE_FOR - timedelta(minutes=1)
    session.add(peer)
    session.commit()
    with pytest.raises(Unauthorized):
        _verify(session, settings, _token(peer_keys.signing_key, _claims(settings)))


def test_a_rotated_key_is_trusted_once_fetched(
    session: Session, connection, settings: Settings, peer: Peer, peer_keys: KeyStore, monkeypatch
) -> None:
    from registry.federation import signing

    new_kid = peer_keys.rotate(keep_old_for_seconds=600)
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return peer_keys.public_jwks()

    monkeypatch.setattr(signing, "fetch_jwks", fetch)
    peer.jwks_fetched_at = utcnow() - signing.REFETCH_AFTER - timedelta(seconds=5)
    session.add(peer)
    session.commit()
    token = _token(peer_keys.signing_key, _claims(settings))
    assert peer_keys.signing_key.kid == new_kid

    # Verification reads the cache only: the new key is not known yet.
    with pytest.raises(Unauthorized):
        _verify(session, settings, _token(peer_keys.signing_key, _claims(settings)))
    signing.refresh_keys(connection, PEER, new_kid)
    session.expire_all()

    assert _verify(session, settings, token).id == peer.id
    assert fetched == [peer.jwks_uri]

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
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlmodel import Session, select

from registry.db import utcnow
from registry.errors import Unauthorized
from registry.federation.signing import (
    FEDERATION_TYP,
    body_hash,
    federation_request,
    verify_federation_request,
)
from registry.oauth.keys import KeyStore
from registry.peers import Peer
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
    head: dict[str, Any] = {"alg": "ES256", "kid": key.kid, "typ": FEDERATION_TYP}
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

    def fetch(url: str, allow: Sequence[str]) -> dict[str, Any]:
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
    signing.refresh_keys(connection, PEER, new_kid, [])
    session.expire_all()

    assert _verify(session, settings, token).id == peer.id
    assert fetched == [peer.jwks_uri]


# --- each rule at its edge ----------------------------------------------------------
# The checks above refuse a request far outside each rule; these pin where each rule
# draws its line, so that a check loosened or tightened by one is caught.


def _verify_claims(
    session: Session, settings: Settings, peer: Peer, keys: KeyStore, claims: dict[str, Any]
) -> dict[str, Any]:
    """``verify`` itself, with the issuer given: no claim is read before it checks."""
    from registry.federation import signing

    token = _token(keys.signing_key, claims)
    return signing.verify(
        session, token, settings=settings, peer=peer, issuer=PEER, typ=FEDERATION_TYP
    )


@pytest.mark.parametrize("claim", ["iss", "aud", "iat", "exp", "jti"])
def test_an_assertion_lacking_a_required_claim_is_refused(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore, claim: str
) -> None:
    assert _verify_claims(session, settings, peer, peer_keys, _claims(settings))["iss"] == PEER
    with pytest.raises(Unauthorized):
        _verify_claims(session, settings, peer, peer_keys, _claims(settings, **{claim: None}))


def test_an_assertion_may_live_300_seconds_and_no_longer(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore
) -> None:
    now = int(time.time())
    longest = _claims(settings, iat=now, exp=now + 300)
    assert _verify_claims(session, settings, peer, peer_keys, longest)["exp"] == now + 300
    too_long = _claims(settings, iat=now, exp=now + 301)
    with pytest.raises(Unauthorized, match="at most 300 s"):
        _verify_claims(session, settings, peer, peer_keys, too_long)


def test_an_assertion_issued_up_to_the_leeway_ahead_is_accepted(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore, monkeypatch
) -> None:
    from types import SimpleNamespace

    from registry.federation import signing

    # The node's clock stands still; the peer's runs up to LEEWAY seconds ahead.
    now = int(time.time())
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: float(now)))
    ahead = _claims(settings, iat=now + signing.LEEWAY, exp=now + 60)
    assert _verify_claims(session, settings, peer, peer_keys, ahead)["iat"] == now + 5
    too_far = _claims(settings, iat=now + signing.LEEWAY + 1, exp=now + 60)
    with pytest.raises(Unauthorized):
        _verify_claims(session, settings, peer, peer_keys, too_far)


@pytest.mark.parametrize(("length", "accepted"), [(7, False), (8, True), (200, True), (201, False)])
def test_a_jti_has_8_to_200_characters(
    session: Session,
    settings: Settings,
    peer: Peer,
    peer_keys: KeyStore,
    length: int,
    accepted: bool,
) -> None:
    jti = f"{time.monotonic_ns()}".ljust(length, "j")[:length]
    claims = _claims(settings, jti=jti)
    if accepted:
        assert _verify_claims(session, settings, peer, peer_keys, claims)["jti"] == jti
    else:
        with pytest.raises(Unauthorized, match="8 to 200 characters"):
            _verify_claims(session, settings, peer, peer_keys, claims)


def test_a_jti_is_once_per_issuer_not_once_across_peers(
    session: Session, settings: Settings, peer: Peer, peer_keys: KeyStore, tmp_path: Path
) -> None:
    other_keys = KeyStore.open(tmp_path / "other-keys")
    _peer_row(session, OTHER_PEER, other_keys)
    jti = f"shared-{time.monotonic_ns()}"
    # Two peers may well pick the same id; neither's request shuts out the other's.
    mine = _token(peer_keys.signing_key, _claims(settings, jti=jti))
    theirs = _token(
        other_keys.signing_key, _claims(settings, iss=OTHER_PEER, sub=OTHER_PEER, jti=jti)
    )
    assert _verify(session, settings, mine).node_id == PEER
    assert _verify(session, settings, theirs).node_id == OTHER_PEER
    # The same id again from one of them is a replay, whatever the rest of the token.
    again = _token(peer_keys.signing_key, _claims(settings, jti=jti))
    with pytest.raises(Unauthorized, match="already been used"):
        _verify(session, settings, again)


def test_a_seen_jti_is_remembered_until_exp_plus_leeway_and_then_forgotten(
    session: Session, monkeypatch
) -> None:
    from datetime import UTC, datetime

    from registry.federation import signing
    from registry.federation.models import SeenAssertion

    exp = 2_000_000_000
    clock = [datetime.fromtimestamp(exp - 60, UTC)]
    monkeypatch.setattr(signing, "utcnow", lambda: clock[0])
    signing.remember_once(session, PEER, "jti-remembered", exp)

    # Until exp + LEEWAY the token may still pass the expiry check, so the id is kept
    # and a replay refused, up to and including that instant.
    for at in (exp, exp + signing.LEEWAY - 1, exp + signing.LEEWAY):
        clock[0] = datetime.fromtimestamp(at, UTC)
        with pytest.raises(Unauthorized, match="already been used"):
            signing.remember_once(session, PEER, "jti-remembered", exp)

    # A second later nothing can replay it: the next assertion purges it.
    clock[0] = datetime.fromtimestamp(exp + signing.LEEWAY + 1, UTC)
    signing.remember_once(session, PEER, "jti-later", exp + 120)
    keys = set(session.exec(select(SeenAssertion.key)).all())
    assert len(keys) == 1
    signing.remember_once(session, PEER, "jti-remembered", exp + 120)


def test_cached_keys_are_trusted_for_exactly_cache_for(
    session: Session, peer: Peer, peer_keys: KeyStore, monkeypatch
) -> None:
    from registry.federation import signing

    fetched = peer.jwks_fetched_at
    assert fetched is not None
    kid = peer_keys.signing_key.kid
    assert kid is not None
    monkeypatch.setattr(signing, "utcnow", lambda: fetched + signing.CACHE_FOR)
    found = signing.peer_key(session, peer, kid)
    assert found is not None
    assert found.kid == kid
    monkeypatch.setattr(
        signing, "utcnow", lambda: fetched + signing.CACHE_FOR + timedelta(microseconds=1)
    )
    assert signing.peer_key(session, peer, kid) is None


@pytest.mark.parametrize("node_id", [None, "", 123, ["https://pariaman.example"]])
def test_an_issuer_that_is_not_a_non_empty_string_is_refused_before_lookup(
    session: Session, peer: Peer, node_id: Any
) -> None:
    from registry.federation import signing

    with pytest.raises(Unauthorized, match="names no issuer"):
        signing.peer_for(session, node_id)


def test_peer_for_finds_the_named_peer_and_only_it(session: Session, peer: Peer) -> None:
    from registry.federation import signing

    assert signing.peer_for(session, PEER).id == peer.id
    with pytest.raises(Unauthorized, match="not a peer"):
        signing.peer_for(session, OTHER_PEER)

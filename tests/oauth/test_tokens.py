from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey
from sqlmodel import Session

from registry.errors import Unauthorized
from registry.oauth.keys import KeyStore
from registry.oauth.models import OAuthClient
from registry.oauth.service import create_client, record_revoked_token, revoke_client
from registry.oauth.tokens import issue_access_token, verify_access_token
from registry.settings import Settings


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore.open(tmp_path / "keys")


@pytest.fixture
def oauth_client(make_client: Callable[..., tuple[OAuthClient, str]]) -> OAuthClient:
    client, _ = make_client("catalog:write sharing:write")
    return client


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims_for(settings: Settings, client: OAuthClient, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": settings.issuer,
        "aud": settings.issuer,
        "sub": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "scope": "catalog:write",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: ECKey, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode(
        {"alg": "ES256", "typ": "at+jwt", "kid": key.kid, **header},
        claims,
        key,
        algorithms=["ES256"],
    )


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def test_issued_token_follows_rfc9068(
    settings: Settings, keys: KeyStore, oauth_client: OAuthClient
) -> None:
    response = issue_access_token(
        settings=settings, keys=keys, client=oauth_client, scope="catalog:write"
    )

    assert response["token_type"] == "Bearer"
    assert response["expires_in"] == settings.access_token_lifetime
    assert response["scope"] == "catalog:write"
    token = response["access_token"]
    header = jws.extract_compact(token.encode()).headers()
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": keys.current_kid}
    claims = jwt.decode(token, keys.signing_key, algorithms=["ES256"]).claims
    assert claims["iss"] == settings.issuer
    assert claims["aud"] == settings.issuer  # a single string, not a list
    assert claims["sub"] == claims["client_id"] == oauth_client.client_id
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert abs(claims["iat"] - time.time()) < 5
    assert isinstance(claims["jti"], str)
    assert claims["scope"] == "catalog:write"
    assert "publisher" not in claims
    assert "node_id" not in claims


def test_each_token_has_its_own_jti(
    settings: Settings, keys: KeyStore, oauth_client: OAuthClient
) -> None:
    jtis = {
        jwt.decode(
            issue_access_token(settings=settings, keys=keys, client=oauth_client, scope="")[
                "access_token"
            ],
            keys.signing_key,
            algorithms=["ES256"],
        ).claims["jti"]
        for _ in range(5)
    }
    assert len(jtis) == 5


def test_token_names_publisher_and_peer_node(
    settings: Settings, keys: KeyStore, session: Session, make_publisher: Callable[..., Any]
) -> None:
    publisher = make_publisher("kota-pariaman")
    client, _ = create_client(
        session,
        name="peer",
        scopes="federation:read",
        publisher_id=publisher.id,
        auth_method="private_key_jwt",
        jwks_uri="https://pariaman.example/.well-known/jwks.json",
        node_id="https://pariaman.example",
    )
    session.commit()
    token = issue_access_token(
        settings=settings, keys=keys, client=client, scope="federation:read"
    )["access_token"]

    principal = verify_access_token(token, settings=settings, keys=keys, session=session)

    assert principal.publisher_id == publisher.id
    assert principal.node_id == "https://pariaman.example"
    claims = jwt.decode(token, keys.signing_key, algorithms=["ES256"]).claims
    assert claims["publisher"] == str(publisher.id)


def test_valid_token_gives_principal(
    settings: Settings, keys: KeyStore, session: Session, oauth_client: OAuthClient
) -> None:
    response = issue_access_token(
        settings=settings, keys=keys, client=oauth_client, scope="catalog:write sharing:write"
    )
    principal = verify_access_token(
        response["access_token"], settings=settings, keys=keys, session=session
    )
    assert principal.client_id == oauth_client.client_id
    assert principal.scopes == {"catalog:write", "sharing:write"}
    assert principal.publisher_id is None
    assert principal.token_id is not None


def test_token_grants_no_more_than_its_client_holds(
    settings: Settings, keys: KeyStore, session: Session, oauth_client: OAuthClient
) -> None:
    token = sign(keys.signing_key, claims_for(settings, oauth_client, scope="catalog:write admin"))
    principal = verify_access_token(token, settings=settings, keys=keys, session=session)
    assert principal.scopes == {"catalog:write"}


BAD_TOKENS: dict[str, Callable[[Settings, KeyStore, OAuthClient], str]] = {
    "alg none": lambda s, k, c: (
        unsigned({"alg": "none", "typ": "at+jwt", "kid": k.current_kid}, claims_for(s, c)) + "."
    ),
    "HS256 keyed with the public key": lambda s, k, c: _hs256_with_public_key(s, k, c),
    "unknown kid": lambda s, k, c: sign(
        ECKey.generate_key("P-256", private=True, auto_kid=True), claims_for(s, c)
    ),
    "own kid, other key": lambda s, k, c: sign(
        ECKey.generate_key("P-256", private=True), claims_for(s, c), kid=k.current_kid
    ),
    "no kid": lambda s, k, c: jwt.encode(
        {"alg": "ES256", "typ": "at+jwt"}, claims_for(s, c), k.signing_key, algorithms=["ES256"]
    ),
    "typ JWT": lambda s, k, c: sign(k.signing_key, claims_for(s, c), typ="JWT"),
    "no typ": lambda s, k, c: jwt.encode(
        {"alg": "ES256", "kid": k.current_kid},
        claims_for(s, c),
        k.signing_key,
        algorithms=["ES256"],
        default_type=None,
    ),
    "expired": lambda s, k, c: sign(
        k.signing_key,
        claims_for(s, c, iat=int(time.time()) - 400, exp=int(time.time()) - 100),
    ),
    "issued in the future": lambda s, k, c: sign(
        k.signing_key, claims_for(s, c, iat=int(time.time()) + 120, exp=int(time.time()) + 300)
    ),
    "wrong aud": lambda s, k, c: sign(k.signing_key, claims_for(s, c, aud="https://other.example")),
    "aud list naming us and another": lambda s, k, c: sign(
        k.signing_key, claims_for(s, c, aud=[s.issuer, "https://other.example"])
    ),
    "aud list of just us": lambda s, k, c: sign(k.signing_key, claims_for(s, c, aud=[s.issuer])),
    "wrong iss": lambda s, k, c: sign(k.signing_key, claims_for(s, c, iss="https://other.example")),
    "no jti": lambda s, k, c: sign(k.signing_key, claims_for(s, c, jti=None)),
    "no exp": lambda s, k, c: sign(k.signing_key, claims_for(s, c, exp=None)),
    "no client_id": lambda s, k, c: sign(k.signing_key, claims_for(s, c, client_id=None)),
    "unknown client": lambda s, k, c: sign(k.signing_key, claims_for(s, c, client_id="nobody")),
    "lives too long": lambda s, k, c: sign(
        k.signing_key, claims_for(s, c, exp=int(time.time()) + 3600)
    ),
    "scope not a string": lambda s, k, c: sign(
        k.signing_key, claims_for(s, c, scope=["catalog:write"])
    ),
    "tampered payload": lambda s, k, c: _tampered(s, k, c),
    "not a JWT": lambda s, k, c: "not-a-token",
    "non-ascii": lambda s, k, c: "é.é.é",
}


def _hs256_with_public_key(settings: Settings, keys: KeyStore, client: OAuthClient) -> str:
    public = keys.find(keys.current_kid)
    assert public is not None
    signing_input = unsigned(
        {"alg": "HS256", "typ": "at+jwt", "kid": keys.current_kid}, claims_for(settings, client)
    )
    secret = public.as_pem(private=False)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _tampered(settings: Settings, keys: KeyStore, client: OAuthClient) -> str:
    header, _, signature = sign(keys.signing_key, claims_for(settings, client)).split(".")
    payload = b64(json.dumps(claims_for(settings, client, scope="admin")).encode())
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_bad_token_is_refused(
    case: str, settings: Settings, keys: KeyStore, session: Session, oauth_client: OAuthClient
) -> None:
    token = BAD_TOKENS[case](settings, keys, oauth_client)
    with pytest.raises(Unauthorized):
        verify_access_token(token, settings=settings, keys=keys, session=session)


def test_revoked_token_is_refused(
    settings: Settings, keys: KeyStore, session: Session, oauth_client: OAuthClient
) -> None:
    claims = claims_for(settings, oauth_client)
    token = sign(keys.signing_key, claims)
    verify_access_token(token, settings=settings, keys=keys, session=session)

    record_revoked_token(session, claims["jti"], claims["exp"])
    session.commit()

    with pytest.raises(Unauthorized, match="revoked"):
        verify_access_token(token, settings=settings, keys=keys, session=session)


def test_token_of_revoked_client_is_refused(
    settings: Settings, keys: KeyStore, session: Session, oauth_client: OAuthClient
) -> None:
    token = issue_access_token(
        settings=settings, keys=keys, client=oauth_client, scope="catalog:write"
    )["access_token"]

    revoke_client(session, oauth_client.client_id)
    session.commit()

    with pytest.raises(Unauthorized, match="client"):
        verify_access_token(token, settings=settings, keys=keys, session=session)


def test_token_from_old_key_verifies_after_rotation(
    settings: Settings, keys: KeyStore, session: Session, oauth_client: OAuthClient
) -> None:
    old_kid = keys.current_kid
    old_token = issue_access_token(
        settings=settings, keys=keys, client=oauth_client, scope="catalog:write"
    )["access_token"]

    new_kid = keys.rotate(keep_old_for_seconds=settings.access_token_lifetime)
    new_token = issue_access_token(
        settings=settings, keys=keys, client=oauth_client, scope="catalog:write"
    )["access_token"]

    assert jws.extract_compact(old_token.encode()).headers()["kid"] == old_kid
    assert jws.extract_compact(new_token.encode()).headers()["kid"] == new_kid
    for token in (old_token, new_token):
        verify_access_token(token, settings=settings, keys=keys, session=session)


def test_unauthorized_carries_bearer_challenge(
    settings: Settings, keys: KeyStore, session: Session
) -> None:
    with pytest.raises(Unauthorized) as caught:
        verify_access_token("x.y.z", settings=settings, keys=keys, session=session)
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_full_media_type_is_accepted(
    settings: Settings, keys: KeyStore, session: Session, oauth_client: OAuthClient
) -> None:
    # RFC 9068 §4 lets the typ be written as the full media type.
    token = sign(keys.signing_key, claims_for(settings, oauth_client), typ="application/at+JWT")
    assert verify_access_token(token, settings=settings, keys=keys, session=session).client_id

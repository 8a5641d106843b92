"""Signed federation requests are taken only when signed by the sending peer's own key.

Each request here is right in every other way — issuer, audience, method, path, body
hash, lifetime, a fresh ``jti`` and even the peer's ``kid`` — so only the signature
check stands between a forger and the endpoint. The same requests signed with the
peer's key are the control: they are accepted."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlmodel import Session, select

from registry.db import utcnow
from registry.federation.signing import FEDERATION_TYP, body_hash
from registry.peers import Peer
from registry.sharing.models import Adoption, Direction, Partnership, PartnershipStatus

PEER = "https://pariaman.example"


@pytest.fixture
def peer_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


@pytest.fixture
def peer(session: Session, peer_key: ECKey) -> Peer:
    peer = Peer(
        node_id=PEER,
        name="Pariaman",
        api_base=f"{PEER}/api/v1",
        issuer=PEER,
        jwks_uri=f"{PEER}/.well-known/jwks.json",
        feed_url=f"{PEER}/federation/v1/changes",
        token_endpoint=f"{PEER}/oauth/token",
        publishers=[{"id": str(uuid.uuid4()), "code": "kota-pariaman", "name": "Kota Pariaman"}],
        # Cached and fresh: the node checks against these keys without fetching.
        jwks={"keys": [peer_key.as_dict(private=False)]},
        jwks_fetched_at=utcnow(),
    )
    session.add(peer)
    session.commit()
    return peer


def _token(key: ECKey, kid: str, path: str, body: bytes) -> str:
    now = int(time.time())
    claims = {
        "iss": PEER, "sub": PEER, "aud": "http://testserver", "iat": now, "exp": now + 60,
        "jti": uuid.uuid4().hex, "htm": "POST", "htu": path, "bh": body_hash(body),
    }  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": kid, "typ": FEDERATION_TYP}, claims, key)


@pytest.fixture
def requests(session, peer, make_publisher, make_app) -> dict[str, tuple[str, dict[str, Any]]]:
    """One valid request to each signed endpoint: (path, body)."""
    publisher = make_publisher("kab-banyuwangi")
    app = make_app(publisher, "smart-kampung")
    asked = Partnership(
        publisher_id=publisher.id,
        peer_node_id=PEER,
        partner_code="kota-pariaman",
        direction=Direction.outgoing,
        status=PartnershipStatus.requested,
    )
    session.add(asked)
    session.commit()
    return {
        "partnership request": (
            "/federation/v1/partnerships",
            {"id": str(uuid.uuid4()), "publisher": "kota-pariaman",
             "publisher_name": "Kota Pariaman", "partner": "kab-banyuwangi"},
        ),
        "status notice": (
            f"/federation/v1/partnerships/{asked.id}/status",
            {"status": "active", "client_id": "node-x"},
        ),
        "adoption notice": (
            "/federation/v1/adoptions",
            {"id": str(uuid.uuid4()), "app_id": str(app.id), "adopter_code": "kota-pariaman",
             "adopter_name": "Kota Pariaman", "status": "production"},
        ),
        "notify": ("/federation/v1/notify", {}),
    }  # fmt: skip


async def _send(client, key: ECKey, kid: str, path: str, payload: dict[str, Any]):
    body = json.dumps(payload).encode()
    return await client.post(
        path,
        content=body,
        headers={
            "Authorization": f"Bearer {_token(key, kid, path, body)}",
            "Content-Type": "application/json",
        },
    )


@pytest.mark.parametrize(
    "endpoint", ["partnership request", "status notice", "adoption notice", "notify"]
)
async def test_request_signed_by_another_key_is_refused(client, requests, peer_key, endpoint):
    path, payload = requests[endpoint]
    stranger = ECKey.generate_key("P-256", auto_kid=True)
    forged = await _send(client, stranger, peer_key.kid, path, payload)
    assert forged.status_code == 401, forged.text
    assert forged.headers["content-type"].startswith("application/problem+json")
    # The control: the very same request signed with the peer's key is taken.
    genuine = await _send(client, peer_key, peer_key.kid, path, payload)
    assert genuine.status_code in (200, 201, 202), genuine.text


async def test_forged_requests_change_nothing(client, session, requests, peer_key):
    stranger = ECKey.generate_key("P-256", auto_kid=True)
    for path, payload in requests.values():
        assert (await _send(client, stranger, peer_key.kid, path, payload)).status_code == 401
    statuses = session.exec(select(Partnership.status)).all()
    assert statuses == [PartnershipStatus.requested]
    assert session.exec(select(Adoption)).all() == []
    peer = session.exec(select(Peer)).one()
    session.refresh(peer)
    assert peer.sync_requested_at is None
    assert peer.client_id is None

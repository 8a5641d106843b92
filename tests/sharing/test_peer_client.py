"""A peer node may fetch tokens exactly while one of its publishers holds a
partnership in force with one of ours, whichever side asked for it."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, select

from registry.catalog.models import Publisher
from registry.oauth.models import OAuthClient
from registry.peers import Peer
from registry.sharing import service
from registry.sharing.models import Direction, Partnership, PartnershipStatus

NODE = "https://pariaman.example"


def _peer(session: Session) -> None:
    session.add(
        Peer(
            node_id=NODE,
            name="Pariaman",
            api_base=f"{NODE}/api/v1",
            issuer=NODE,
            jwks_uri=f"{NODE}/.well-known/jwks.json",
            feed_url=f"{NODE}/federation/v1/changes",
            token_endpoint=f"{NODE}/oauth/token",
        )
    )
    session.flush()


def _partnership(session: Session, publisher: Publisher, direction: Direction) -> Partnership:
    partnership = Partnership(
        publisher_id=publisher.id,
        peer_node_id=NODE,
        partner_code="kota-pariaman",
        direction=direction,
        status=PartnershipStatus.active,
    )
    session.add(partnership)
    session.flush()
    return partnership


def _client(session: Session) -> OAuthClient | None:
    client_id = service.peer_client_id(NODE)
    return session.exec(select(OAuthClient).where(OAuthClient.client_id == client_id)).first()


def test_the_peer_keeps_its_token_while_any_publisher_s_partnership_is_in_force(
    session: Session, make_publisher: Callable[..., Publisher]
) -> None:
    _peer(session)
    asked_us = _partnership(session, make_publisher("kab-banyuwangi"), Direction.incoming)
    we_asked = _partnership(session, make_publisher("kota-surabaya"), Direction.outgoing)
    service.sync_peer_client(session, NODE)
    client = _client(session)
    assert client is not None
    assert client.revoked_at is None
    # Revoking one publisher's agreement must not cut the node off from the items the
    # other publisher still shares with it.
    service.set_status(session, asked_us, PartnershipStatus.revoked)
    assert client.revoked_at is None
    service.set_status(session, we_asked, PartnershipStatus.revoked)
    assert client.revoked_at is not None


def test_a_partnership_this_node_asked_for_also_gives_the_peer_a_token(
    session: Session, make_publisher: Callable[..., Publisher]
) -> None:
    _peer(session)
    _partnership(session, make_publisher("kota-surabaya"), Direction.outgoing)
    service.sync_peer_client(session, NODE)
    client = _client(session)
    assert client is not None
    assert client.revoked_at is None

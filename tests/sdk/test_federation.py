"""Sharing through the SDK: adoptions, the change feed, peers, partnerships, and a peer
node reading the feed with a ``private_key_jwt`` token."""

from __future__ import annotations

import json

import pytest

from lumbung_client import (
    App,
    AsyncClient,
    Client,
    NotFound,
    PreconditionFailed,
    Publisher,
    Unauthorized,
)

from .conftest import Node


@pytest.fixture
def app(admin: Client, publisher: Publisher) -> App:
    return admin.apps.create(
        publisher=publisher.code, slug="aplikasi-bersama", name="Bersama", visibility="public"
    )


def test_adoption_lifecycle(admin: Client, app: App, publisher: Publisher, unique: str) -> None:
    adopter = admin.publishers.create(code=f"kota-pengguna-{unique}", name="Kota Pengguna")
    adoption = admin.adoptions.create(
        app_id=app.ref,
        publisher=adopter.code,
        version="1.0",
        deployment_url="https://layanan.pengguna.example.go.id",
    )
    assert adoption.app_id == app.id
    assert adoption.adopter_code == adopter.code
    assert adoption.status == "evaluating"

    assert [a.id for a in admin.adoptions.list(app=app)] == [adoption.id]
    assert [a.id for a in admin.adoptions.list(publisher=adopter.code)] == [adoption.id]
    assert admin.adoptions.list(app=app.ref, status="production").all() == []

    live = admin.adoptions.update(adoption, status="production")
    assert live.status == "production"
    with pytest.raises(PreconditionFailed):
        admin.adoptions.update(adoption, status="retired")
    assert admin.adoptions.get(adoption.id).status == "production"
    admin.adoptions.delete(live)
    with pytest.raises(NotFound):
        admin.adoptions.get(adoption.id)


def test_change_feed_upserts_and_tombstones(
    node: Node, admin: Client, publisher: Publisher
) -> None:
    with Client(node.url) as anonymous:
        feed = anonymous.changes(limit=50)
        for _ in feed:
            pass
        start = feed.cursor
        assert start is not None

        app = admin.apps.create(
            publisher=publisher.code, slug="di-umpan", name="Umpan", visibility="public"
        )
        hidden = admin.apps.create(
            publisher=publisher.code, slug="tersembunyi", name="Rahasia", visibility="private"
        )
        fresh = anonymous.changes(after=start)
        entries = {e.id: e for e in fresh}
        assert entries[app.id].op == "upsert"
        assert entries[app.id].kind == "app"
        data = entries[app.id].data
        assert data is not None
        assert data["slug"] == "di-umpan"
        assert entries[app.id].global_id == app.global_id
        assert hidden.id not in entries or entries[hidden.id].op == "delete"
        page = anonymous.changes(after=start).first_page()
        assert page.origin == node.url
        assert page.has_more is False

        admin.apps.delete(app)
        tombstone = {e.id: e for e in anonymous.changes(after=fresh.cursor)}[app.id]
        assert tombstone.op == "delete"
        assert tombstone.data is None


async def test_async_adoptions_and_feed(node: Node, app: App, publisher: Publisher) -> None:
    async with node.async_admin() as client:
        adoption = await client.adoptions.create(app_id=app, publisher=publisher.code)
        assert [a.id async for a in client.adoptions.list(app=app.ref)] == [adoption.id]
        adoption = await client.adoptions.update(adoption, status="piloting")
        await client.adoptions.delete(adoption)
        kinds = {e.kind async for e in client.changes(limit=100)}
        assert {"publisher", "app"} <= kinds


@pytest.mark.federation
def test_peers_partnership_and_a_peer_reading_the_feed(
    node: Node, peer_node: Node, unique: str
) -> None:
    """Banyuwangi (``peer_node``) shares a partners-only app with Pariaman (``node``)."""
    with node.admin() as pariaman, peer_node.admin() as banyuwangi:
        here = pariaman.publishers.create(code=f"kota-pariaman-{unique}", name="Kota Pariaman")
        there = banyuwangi.publishers.create(code=f"kab-bwi-{unique}", name="Kab. Banyuwangi")
        shared = banyuwangi.apps.create(
            publisher=there.code, slug="khusus-mitra", name="Mitra", visibility="partners"
        )

        peer_on_here = _ensure_peer(pariaman, peer_node.url)
        _ensure_peer(banyuwangi, node.url)
        assert peer_on_here.node_id == peer_node.url
        assert any(p.id == peer_on_here.id for p in pariaman.peers.list())
        assert pariaman.peers.get(peer_on_here).node_id == peer_node.url

        asked = pariaman.partnerships.create(
            publisher=here.code, peer=peer_node.url, partner=there.code, reference=f"PKS-{unique}"
        )
        assert asked.status == "requested"
        incoming = next(
            p
            for p in banyuwangi.partnerships.list(status="requested")
            if p.partner_code == here.code
        )
        approved = banyuwangi.partnerships.approve(incoming)
        assert approved.status == "active"
        peer_node.lumbung("sync")  # sends the approval notice waiting in the outbox
        assert pariaman.partnerships.get(asked).status == "active"
        pariaman.peers.sync(peer_on_here)

        # Pariaman's node reads Banyuwangi's feed with its own key (private_key_jwt).
        keys_dir = node.data_dir / "keys"
        current = json.loads((keys_dir / "manifest.json").read_text())["current"]
        as_peer = Client(
            peer_node.url,
            client_id=peer_client_of(peer_node, node),
            private_key=keys_dir / f"{current}.jwk",
        )
        with as_peer:
            entries = {e.id: e for e in as_peer.changes()}
            assert as_peer._tokens is not None
            assert as_peer._tokens.fetches == 1
        assert entries[shared.id].op == "upsert"
        assert here.code in (entries[shared.id].audience or [])

        with Client(peer_node.url) as anonymous:
            seen = {e.id: e.op for e in anonymous.changes()}
        assert seen.get(shared.id, "delete") == "delete"

        revoked = banyuwangi.partnerships.revoke(approved)
        assert revoked.status == "revoked"


@pytest.mark.federation
def test_unknown_key_is_refused(node: Node, peer_node: Node) -> None:
    from joserfc.jwk import ECKey

    stranger = ECKey.generate_key("P-256", auto_kid=True).as_dict(private=True)
    client = Client(peer_node.url, client_id=peer_client_of(peer_node, node), private_key=stranger)
    with client, pytest.raises(Unauthorized):
        client.token()


def peer_client_of(host: Node, peer: Node) -> str:
    """The OAuth client id ``host`` registered for ``peer``'s node, as its admin lists it."""
    clients = json.loads(host.lumbung("client", "list", "--json"))
    return next(c["client_id"] for c in clients if c["node_id"] == peer.url)


def _ensure_peer(client: Client, url: str):
    for peer in client.peers.list():
        if peer.node_id == url:
            return peer
    return client.peers.create(url=url)


async def test_async_peers_list(node: Node) -> None:
    async with AsyncClient(
        node.url, client_id=node.client_id, client_secret=node.client_secret
    ) as client:
        peers = await client.peers.list().all()
        assert isinstance(peers, list)

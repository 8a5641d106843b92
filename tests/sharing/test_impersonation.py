"""A peer cannot pass for one of this node's publishers, nor for another node's.

A peer's feed may carry a publisher whose code equals a local one: every output and
filter tells them apart (``publisher_ref``: the code here, ``code@node-id`` for a
mirror), and facets count them apart. An adoption received from a node may name only
that node's own publishers as adopters."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlmodel import Session

from registry.catalog.models import App, Publisher
from registry.errors import Forbidden
from registry.peers import Peer
from registry.sharing import schemas, service
from registry.sharing.models import Adoption

PEER = "https://pariaman.example"
OTHER = "https://surabaya.example"


def _mirror(session: Session, publisher: Publisher, app: App, origin: str) -> None:
    """Turn a publisher and its app into mirrors of ``origin`` (as a sync leaves them)."""
    publisher.origin = origin
    app.origin = origin
    session.add(publisher)
    session.add(app)
    session.commit()


@pytest.fixture
def twins(session, make_publisher, make_app) -> dict[str, App]:
    """``kab-banyuwangi`` here, and a publisher of the same code on two peers."""
    apps = {}
    for origin in (PEER, OTHER):
        publisher = make_publisher("kab-banyuwangi")
        app = make_app(publisher, f"aplikasi-{uuid.uuid4().hex[:6]}")
        _mirror(session, publisher, app, origin)
        apps[origin] = app
    local = make_publisher("kab-banyuwangi")
    apps["local"] = make_app(local, "smart-kampung")
    return apps


async def test_outputs_name_a_mirrored_publisher_with_its_node(client, twins):
    items = (await client.get("/api/v1/apps")).json()["items"]
    refs = {item["id"]: item["publisher_ref"] for item in items}
    assert refs == {
        str(twins["local"].id): "kab-banyuwangi",
        str(twins[PEER].id): f"kab-banyuwangi@{PEER}",
        str(twins[OTHER].id): f"kab-banyuwangi@{OTHER}",
    }
    one = (await client.get(f"/api/v1/apps/{twins[PEER].id}")).json()
    assert (one["publisher"], one["publisher_ref"]) == ("kab-banyuwangi", f"kab-banyuwangi@{PEER}")


async def test_publisher_filter_tells_twins_apart(client, twins):
    async def ids(publisher: str) -> set[str]:
        response = await client.get("/api/v1/apps", params={"publisher": publisher})
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await ids("kab-banyuwangi") == {str(twins["local"].id)}
    assert await ids(f"kab-banyuwangi@{PEER}") == {str(twins[PEER].id)}
    assert await ids(f"kab-banyuwangi@{OTHER}") == {str(twins[OTHER].id)}
    assert await ids("kab-banyuwangi@https://nowhere.example") == set()


async def test_a_bare_code_two_peers_share_names_no_one(client, session, twins):
    local = session.get(App, twins["local"].id)
    publisher = session.get(Publisher, local.publisher_id)
    publisher.deleted_at = publisher.created_at
    session.add(publisher)
    session.commit()
    response = await client.get("/api/v1/publishers/kab-banyuwangi")
    assert response.status_code == 404
    assert f"kab-banyuwangi@{PEER}" in response.json()["detail"]
    # A filter names one exactly; a bare code matches neither twin.
    for ref, expected in (
        (f"kab-banyuwangi@{PEER}", {str(twins[PEER].id)}),
        ("kab-banyuwangi", set()),
    ):
        listed = await client.get("/api/v1/apps", params={"publisher": ref})
        assert {item["id"] for item in listed.json()["items"]} == expected


async def test_facets_count_twins_apart(client, twins):
    response = await client.get("/api/v1/search", params={"kind": "app"})
    assert response.status_code == 200, response.text
    assert response.json()["facets"]["publisher"] == {
        "kab-banyuwangi": 1,
        f"kab-banyuwangi@{PEER}": 1,
        f"kab-banyuwangi@{OTHER}": 1,
    }


@pytest.fixture
def peer(session: Session) -> Peer:
    peer = Peer(
        node_id=PEER,
        name="Pariaman",
        api_base=f"{PEER}/api/v1",
        issuer=PEER,
        jwks_uri=f"{PEER}/.well-known/jwks.json",
        feed_url=f"{PEER}/federation/v1/changes",
        token_endpoint=f"{PEER}/oauth/token",
        publishers=[{"id": str(uuid.uuid4()), "code": "kota-pariaman", "name": "Kota Pariaman"}],
    )
    session.add(peer)
    session.commit()
    return peer


def _notice(app: App, adopter: str) -> schemas.AdoptionNotice:
    return schemas.AdoptionNotice(
        id=uuid.uuid4(),
        app_id=app.id,
        adopter_code=adopter,
        adopter_name=adopter.title(),
        status="production",
    )


@pytest.mark.parametrize(
    "adopter",
    [
        "kab-banyuwangi",  # this node's own publisher
        "kota-surabaya",  # another node's publisher
    ],
)
def test_an_adoption_naming_a_publisher_the_node_does_not_host_is_refused(
    session, peer, make_publisher, make_app, caplog, adopter
):
    app = make_app(make_publisher("kab-banyuwangi"))
    notice = _notice(app, adopter)
    with (
        caplog.at_level(logging.WARNING, logger="registry.sharing.service"),
        pytest.raises(Forbidden),
    ):
        service.receive_adoption(session, peer, notice)
    assert PEER in caplog.text
    assert adopter in caplog.text
    assert session.get(Adoption, notice.id) is None


def test_an_adoption_by_the_nodes_own_publisher_is_taken(session, peer, make_publisher, make_app):
    app = make_app(make_publisher("kab-banyuwangi"))
    adoption = service.receive_adoption(session, peer, _notice(app, "kota-pariaman"))
    assert (adoption.adopter_code, adoption.adopter_node) == ("kota-pariaman", PEER)


def test_a_publisher_the_peer_added_since_is_known_from_its_mirror(
    session, peer, make_publisher, make_app
):
    # Not in the peer's metadata from when it was added, but mirrored by a later sync.
    app = make_app(make_publisher("kab-banyuwangi"))
    newer = make_publisher("kab-padang-pariaman")
    newer.origin = PEER
    session.add(newer)
    session.commit()
    adoption = service.receive_adoption(session, peer, _notice(app, "kab-padang-pariaman"))
    assert adoption.adopter_node == PEER


async def test_adoptions_filter_by_adopter_identity(
    client, session, peer, make_publisher, make_app
):
    app = make_app(make_publisher("kab-banyuwangi"))
    theirs = service.receive_adoption(session, peer, _notice(app, "kota-pariaman"))
    session.commit()

    async def ids(publisher: str) -> set[str]:
        response = await client.get("/api/v1/adoptions", params={"publisher": publisher})
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await ids(f"kota-pariaman@{PEER}") == {str(theirs.id)}
    assert await ids(f"kota-pariaman@{OTHER}") == set()
    assert await ids("kota-pariaman") == {str(theirs.id)}

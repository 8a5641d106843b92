"""Every read path gives each caller the same answer: what a list shows is what search
finds and counts, what a single read returns, and (for a peer node) what the change
feed sends. One rule decides them all (``registry.sharing.visibility``); this holds the
paths to it from the outside."""

from __future__ import annotations

from typing import Any

import pytest

from registry.catalog.models import App, Dataset, Publisher, PublisherKind, Visibility
from registry.sharing.models import Direction, Partnership, PartnershipStatus

PARTNER = "https://pariaman.example"
STRANGER = "https://bandung.example"


@pytest.fixture
async def world(session, make_publisher, make_app, make_dataset, token_for, node_token) -> Any:
    owner = make_publisher("kab-banyuwangi")
    neighbour = make_publisher("kota-surabaya")
    # Pariaman's node: a partner of the owner; its city kota-pariaman is mirrored here.
    peer_city = Publisher(
        code="kota-pariaman", name="Kota Pariaman", kind=PublisherKind.city, origin=PARTNER
    )
    session.add(peer_city)
    for publisher, node, code in (
        (owner, PARTNER, "kota-pariaman"),
        (neighbour, STRANGER, "kota-bandung"),
    ):
        session.add(
            Partnership(
                publisher_id=publisher.id,
                peer_node_id=node,
                partner_code=code,
                direction=Direction.incoming,
                status=PartnershipStatus.active,
            )
        )
    session.commit()
    ids: set[str] = set()
    mirrors: set[str] = set()
    for publisher in (owner, neighbour):
        for visibility in Visibility:
            slug = f"{publisher.code}-{visibility.value}"
            ids.add(str(make_app(publisher, slug, visibility=visibility.value).id))
            ids.add(str(make_dataset(publisher, slug, visibility=visibility.value).id))
    # Mirrors of Pariaman's items: public, shared with the owner, shared with no one here.
    for n, (visibility, audience) in enumerate(
        [
            (Visibility.public, None),
            (Visibility.partners, [str(owner.id)]),
            (Visibility.partners, []),
        ]
    ):
        common: dict[str, Any] = {
            "slug": f"cermin-{n}",
            "visibility": visibility,
            "publisher_id": peer_city.id,
            "origin": PARTNER,
            "audience": audience,
        }
        app = App(name=f"Cermin {n}", **common)
        dataset = Dataset(title={"id": f"Cermin {n}"}, **common)
        session.add_all([app, dataset])
        mirrors |= {str(app.id), str(dataset.id)}
    session.commit()
    return {
        "ids": ids | mirrors,
        "mirrors": mirrors,
        "callers": {
            "anonymous": {},
            "admin": await token_for(None, "admin"),
            "owner": await token_for(owner, "catalog:write"),
            "neighbour": await token_for(neighbour, "catalog:write"),
            "partner node": node_token(PARTNER),
            "stranger node": node_token(STRANGER),
        },
    }


async def _paged(client, path: str, headers: dict[str, str], **params: Any) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        query = dict(params, limit=100) | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


@pytest.mark.parametrize(
    "caller", ["anonymous", "admin", "owner", "neighbour", "partner node", "stranger node"]
)
async def test_lists_search_facets_single_reads_and_feed_agree(client, world, caller):
    headers = world["callers"][caller]
    listed = {
        kind: {item["id"] for item in await _paged(client, f"/api/v1/{kind}s", headers)}
        for kind in ("app", "dataset")
    }
    hits = await _paged(client, "/api/v1/search", headers)
    found = {kind: {h["id"] for h in hits if h["kind"] == kind} for kind in ("app", "dataset")}
    assert found == listed
    facets = (await client.get("/api/v1/search", headers=headers)).json()["facets"]
    assert facets["kind"] == {kind: len(ids) for kind, ids in listed.items()}

    readable = set()
    for item_id in world["ids"]:
        for kind in ("app", "dataset"):
            response = await client.get(f"/api/v1/{kind}s/{item_id}", headers=headers)
            assert response.status_code in (200, 404), response.text
            if response.status_code == 200:
                readable.add(item_id)
    assert readable == (listed["app"] | listed["dataset"]) & world["ids"]

    if caller.endswith("node"):
        feed = (await client.get("/federation/v1/changes", headers=headers)).json()
        assert not feed["has_more"]
        upserts = {e["id"] for e in feed["entries"] if e["op"] == "upsert"}
        # The feed serves a node this node's own items that the API lets it read.
        assert upserts & world["ids"] == readable - world["mirrors"]

    # What each kind of caller should see, counted: the rule itself, spelt out once more.
    expected = {
        "anonymous": 2 + 1,  # both publishers' public items, the public mirror
        "admin": 6 + 3,
        "owner": 3 + 1 + 1 + 1,  # its own three, the neighbour's public, two mirrors
        "neighbour": 3 + 1 + 1,  # its own three, the owner's public, the public mirror
        "partner node": 2 + 1 + 1,  # public items, the owner's partners item, public mirror
        "stranger node": 2 + 1 + 1,  # public items, the neighbour's partners item, public mirror
    }[caller]
    assert len(listed["app"]) == len(listed["dataset"]) == expected

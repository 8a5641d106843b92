"""Reading one item by its id follows the visibility rule, as lists do: a ``partners``
item is found by its owner, the admin and a node partnered with its owner; any other
caller — another publisher of this node, a node partnered with another publisher — gets
404, on the item and on every child, adoption and file of it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from registry.sharing.models import Direction, Partnership, PartnershipStatus

PARTNER = "https://pariaman.example"
STRANGER = "https://bandung.example"


@pytest.fixture
async def world(
    session, client, make_publisher, make_app, make_dataset, token_for, node_token
) -> dict[str, Any]:
    owner = make_publisher("kab-banyuwangi")
    neighbour = make_publisher("kota-surabaya")
    # The owner shares with Pariaman; Bandung's node holds a partnership too, but with
    # the neighbour only: it must not open the owner's items.
    for publisher, node in ((owner, PARTNER), (neighbour, STRANGER)):
        session.add(
            Partnership(
                publisher_id=publisher.id,
                peer_node_id=node,
                partner_code="kota-x",
                direction=Direction.incoming,
                status=PartnershipStatus.active,
                decided_at=None,
                valid_until=date(2999, 1, 1),
            )
        )
    session.commit()
    admin = await token_for(None, "admin")
    paths: dict[str, str] = {}
    for visibility in ("partners", "private"):
        app = make_app(owner, f"aplikasi-{visibility}", visibility=visibility)
        release = (
            await client.post(
                f"/api/v1/apps/{app.id}/releases", json={"version": "1.0.0"}, headers=admin
            )
        ).json()
        upload = await client.post(
            f"/api/v1/apps/{app.id}/releases/{release['id']}/artifacts",
            params={"name": "paket.zip"},
            content=b"PK\x03\x04 isi rahasia",
            headers=admin | {"Content-Type": "application/zip"},
        )
        assert upload.status_code == 201, upload.text
        dataset = make_dataset(owner, f"data-{visibility}", visibility=visibility)
        distribution = (
            await client.post(
                f"/api/v1/datasets/{dataset.id}/distributions",
                json={"access_url": "https://data.example/a.csv"},
                headers=admin,
            )
        ).json()
        adoption = await client.post(
            "/api/v1/adoptions",
            json={"app_id": str(app.id), "publisher": "kab-banyuwangi", "status": "production"},
            headers=admin,
        )
        assert adoption.status_code == 201, adoption.text
        base = f"/api/v1/apps/{app.id}"
        paths |= {
            f"{visibility} app": base,
            f"{visibility} releases": f"{base}/releases",
            f"{visibility} release": f"{base}/releases/{release['id']}",
            f"{visibility} file": f"{base}/releases/{release['id']}/artifacts/paket.zip",
            f"{visibility} adoptions": f"{base}/adoptions",
            f"{visibility} adoption": f"/api/v1/adoptions/{adoption.json()['id']}",
            f"{visibility} dataset": f"/api/v1/datasets/{dataset.id}",
            f"{visibility} distributions": f"/api/v1/datasets/{dataset.id}/distributions",
            f"{visibility} distribution": (
                f"/api/v1/datasets/{dataset.id}/distributions/{distribution['id']}"
            ),
        }
    return {
        "paths": paths,
        "callers": {
            "owner": await token_for(owner, "catalog:write"),
            "admin": admin,
            "neighbour": await token_for(neighbour, "catalog:write sharing:write"),
            "partner node": node_token(PARTNER),
            "stranger node": node_token(STRANGER),
            "anonymous": {},
        },
    }


# caller → (sees partners items, sees private items)
EXPECTED = {
    "owner": (True, True),
    "admin": (True, True),
    "partner node": (True, False),
    "neighbour": (False, False),
    "stranger node": (False, False),
    "anonymous": (False, False),
}


@pytest.mark.parametrize("caller", list(EXPECTED))
async def test_single_reads_follow_the_owner_s_own_partnerships(client, world, caller):
    headers = world["callers"][caller]
    seen: dict[str, int] = {}
    for name, path in world["paths"].items():
        response = await client.get(path, headers=headers)
        seen[name] = response.status_code
        if response.status_code != 200:
            assert response.status_code == 404, (name, response.text)
    partners, private = EXPECTED[caller]
    expected = {
        name: 200 if (partners if name.startswith("partners") else private) else 404
        for name in world["paths"]
    }
    assert seen == expected

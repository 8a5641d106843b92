"""The README's first steps, as a new city IT team would take them: a real node, the
printed admin credentials, the CLI, and a publisher's own client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest

from tests.nodes import Node, running_node


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[Node]:
    with running_node("quickstart", tmp_path_factory.mktemp("nodes"), "--demo") as node:
        yield node


def test_demo_catalog_is_served(node):
    apps = httpx2.get(f"{node.url}/api/v1/apps", params={"limit": 200}).json()["items"]
    assert len(apps) >= 8
    assert all(app["demo"] and app["visibility"] == "public" for app in apps)


def test_admin_client_registers_a_city_that_publishes(node):
    admin = node.admin_headers()
    assert httpx2.get(f"{node.url}/api/v1/apps?visibility=private", headers=admin).json()[
        "items"
    ], "the admin sees the demo's private apps"

    node.cli(
        "publisher", "add", "kota-padang", "--name", "Kota Padang", "--kind", "city",
        "--region-code", "13.71",
    )  # fmt: skip
    created = json.loads(
        node.cli(
            "client", "add", "--publisher", "kota-padang", "--scope", "catalog:write", "--json"
        ).stdout
    )
    padang = node.token(created["client_id"], created["client_secret"])

    def post(path: str, body: dict) -> dict:
        response = httpx2.post(f"{node.url}/api/v1{path}", json=body, headers=padang)
        assert response.status_code == 201, response.text
        return response.json()

    public = post("/apps", {"slug": "sipadu", "name": "SIPADU", "visibility": "public",
                            "license": "EUPL-1.2"})  # fmt: skip
    private = post("/apps", {"slug": "internal", "name": "Internal", "visibility": "private"})
    post(f"/apps/{public['id']}/releases", {"version": "1.0.0"})
    dataset = post("/datasets", {"slug": "penduduk", "title": {"id": "Penduduk"},
                                 "visibility": "private"})  # fmt: skip
    post(f"/datasets/{dataset['id']}/distributions", {"access_url": "https://data.example/p.csv"})

    anonymous = httpx2.get(f"{node.url}/api/v1/apps", params={"publisher": "kota-padang"})
    assert [a["slug"] for a in anonymous.json()["items"]] == ["sipadu"]
    assert httpx2.get(f"{node.url}/api/v1/apps/{private['id']}").status_code == 404
    assert httpx2.get(f"{node.url}/api/v1/datasets/{dataset['id']}").status_code == 404
    own = httpx2.get(f"{node.url}/api/v1/apps", params={"publisher": "kota-padang"},
                     headers=padang)  # fmt: skip
    assert {a["slug"] for a in own.json()["items"]} == {"sipadu", "internal"}

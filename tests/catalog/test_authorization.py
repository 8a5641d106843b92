"""Every write route × every kind of caller: the scope and the owner are both checked."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from registry.app import create_app

# (method, path template, body) for every write route of the catalog.
APP_BODY = {"slug": "aplikasi-baru", "name": "Aplikasi Baru", "visibility": "public"}
DATASET_BODY = {"slug": "data-baru", "title": {"id": "Data Baru"}}
CATALOG_WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/v1/apps", APP_BODY | {"publisher": "kab-banyuwangi"}),
    ("PATCH", "/api/v1/apps/{app}", {"name": "Nama Baru"}),
    ("DELETE", "/api/v1/apps/{app}", None),
    ("POST", "/api/v1/apps/{app}/releases", {"version": "2.0.0"}),
    ("PATCH", "/api/v1/apps/{app}/releases/{release}", {"notes": "Perbaikan"}),
    ("DELETE", "/api/v1/apps/{app}/releases/{release}", None),
    (
        "POST",
        "/api/v1/apps/{app}/releases/{release}/artifacts?name=catatan.json",
        {"catatan": "rilis"},
    ),
    ("POST", "/api/v1/datasets", DATASET_BODY | {"publisher": "kab-banyuwangi"}),
    ("PATCH", "/api/v1/datasets/{dataset}", {"keywords": ["baru"]}),
    ("DELETE", "/api/v1/datasets/{dataset}", None),
    (
        "POST",
        "/api/v1/datasets/{dataset}/distributions",
        {"access_url": "https://data.example/penduduk.csv"},
    ),
    ("PATCH", "/api/v1/datasets/{dataset}/distributions/{distribution}", {"format": "CSV"}),
    ("DELETE", "/api/v1/datasets/{dataset}/distributions/{distribution}", None),
]
ADMIN_WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/v1/publishers", {"code": "kota-baru", "name": "Kota Baru"}),
    ("PATCH", "/api/v1/publishers/{publisher}", {"name": "Kabupaten Banyuwangi (baru)"}),
    ("DELETE", "/api/v1/publishers/{empty_publisher}", None),
]

# caller → expected status for catalog writes and for admin-only writes
CALLERS = {
    "anonymous": (401, 401),
    "other_publisher": (403, 403),
    "owner_without_scope": (403, 403),
    "owner_with_scope": (None, 403),
    "admin": (None, None),
}


@pytest.fixture
async def world(make_publisher, make_app, make_dataset, session, client, token_for):
    owner = make_publisher("kab-banyuwangi", kind="regency", region_code="35.10")
    other = make_publisher("kota-pariaman", region_code="13.77")
    empty = make_publisher("kota-kosong")
    app = make_app(owner, "layanan-desa")
    dataset = make_dataset(owner, "penduduk")
    admin = await token_for(None, "admin")
    release = (
        await client.post(
            f"/api/v1/apps/{app.id}/releases", json={"version": "1.0.0"}, headers=admin
        )
    ).json()
    distribution = (
        await client.post(
            f"/api/v1/datasets/{dataset.id}/distributions",
            json={"access_url": "https://data.example/a.csv"},
            headers=admin,
        )
    ).json()
    callers = {
        "anonymous": lambda: {},
        "other_publisher": lambda: token_for(other, "catalog:write sharing:write"),
        "owner_without_scope": lambda: token_for(owner, "sharing:write"),
        "owner_with_scope": lambda: token_for(owner, "catalog:write"),
        "admin": lambda: admin,
    }
    return {
        "ids": {
            "app": app.id,
            "dataset": dataset.id,
            "release": release["id"],
            "distribution": distribution["id"],
            "publisher": owner.code,
            "empty_publisher": empty.code,
        },
        "callers": callers,
    }


def _cases(writes, column):
    return [
        pytest.param(method, path, body, caller, expected[column], id=f"{method} {path} {caller}")
        for method, path, body in writes
        for caller, expected in CALLERS.items()
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "caller", "expected"),
    _cases(CATALOG_WRITES, 0) + _cases(ADMIN_WRITES, 1),
)
async def test_write_needs_scope_and_ownership(client, world, method, path, body, caller, expected):
    url = path.format(**world["ids"])
    headers = world["callers"][caller]()
    if not isinstance(headers, dict):
        headers = await headers
    response = await client.request(method, url, json=body, headers=headers)
    if expected is None:
        assert response.status_code in (200, 201, 204), response.text
    else:
        assert response.status_code == expected, response.text
        assert response.headers["content-type"] == "application/problem+json"


def test_every_write_route_declares_a_scope(settings, connection):
    """A new write route without a scope would be writable by anyone with a token."""
    app = create_app(settings, engine=connection)
    # The OAuth endpoints authenticate the client itself, not an access token.
    exempt_prefixes = ("/oauth/",)
    unguarded = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path.startswith(exempt_prefixes):
            continue
        if set(route.methods or ()) <= {"GET", "HEAD"}:
            continue
        scopes = {
            scope
            for requirement in _security_requirements(route.dependant)
            for scope in requirement
        }
        if not scopes:
            unguarded.append(f"{sorted(route.methods or ())} {route.path}")
    assert unguarded == []


def _security_requirements(dependant):
    """The scope lists declared anywhere in a route's dependency tree."""
    found = [list(dependant.own_oauth_scopes)] if dependant.own_oauth_scopes else []
    for sub in dependant.dependencies:
        found += _security_requirements(sub)
    return found

"""Concurrent writes through the real request path, each request in its own
transaction on its own connection (not the per-test rollback): If-Match lets exactly
one of many racing updates through, and a repeated Idempotency-Key is answered once."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
import sqlalchemy as sa

from registry.app import create_app
from registry.db import create_db_engine, session_scope
from registry.oauth.service import create_client
from registry.search.models import FTS_TABLES

RACERS = 20
CODE = "kota-balapan"


@pytest.fixture
def real_engine(settings, engine) -> Iterator[sa.Engine]:
    """An engine whose transactions really commit, with a connection for every racer."""
    postgres = not settings.sqlalchemy_url.startswith("sqlite")
    real = create_db_engine(settings, **({"pool_size": RACERS + 5} if postgres else {}))
    yield real
    with real.begin() as connection:
        publishers = sa.text("SELECT id FROM publishers WHERE code = :code")
        ids = [row[0] for row in connection.execute(publishers, {"code": CODE})]
        clients = sa.text("SELECT client_id FROM oauth_clients WHERE name = 'racer'")
        client_ids = [row[0] for row in connection.execute(clients)]
        for client_id in client_ids:
            connection.execute(
                sa.text("DELETE FROM idempotency_keys WHERE client_id = :c"), {"c": client_id}
            )
        for publisher_id in ids:
            p = {"p": publisher_id}
            connection.execute(
                sa.text(
                    "DELETE FROM releases WHERE app_id IN "
                    "(SELECT id FROM apps WHERE publisher_id = :p)"
                ),
                p,
            )
            connection.execute(
                sa.text(
                    "DELETE FROM distributions WHERE dataset_id IN "
                    "(SELECT id FROM datasets WHERE publisher_id = :p)"
                ),
                p,
            )
            connection.execute(sa.text("DELETE FROM adoptions WHERE publisher_id = :p"), p)
            # Rows deleted by hand leave their search index rows behind, which later
            # tests would count: remove those too (FTS5 text first, on SQLite).
            if connection.dialect.name == "sqlite":
                for table in FTS_TABLES:
                    connection.execute(
                        sa.text(
                            f"DELETE FROM {table} WHERE rowid IN "
                            "(SELECT docid FROM search_documents WHERE publisher_id = :p)"
                        ),
                        p,
                    )
            connection.execute(sa.text("DELETE FROM search_documents WHERE publisher_id = :p"), p)
            for table in ("apps", "datasets", "oauth_clients"):
                connection.execute(sa.text(f"DELETE FROM {table} WHERE publisher_id = :p"), p)
        connection.execute(sa.text("DELETE FROM oauth_clients WHERE name = 'racer'"))
        connection.execute(sa.text("DELETE FROM publishers WHERE code = :code"), {"code": CODE})
    real.dispose()


@pytest.fixture
async def racing(settings, real_engine) -> AsyncIterator[tuple[httpx2.AsyncClient, dict, dict]]:
    """A client of the node on the real engine, with an owner's and an admin's headers.
    Handlers are synchronous, so the app runs each request on its own worker thread."""
    app = create_app(settings, engine=real_engine)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with session_scope(real_engine) as session:
            admin, admin_secret = create_client(
                session, name="racer", scopes="admin", publisher_id=None, settings=settings
            )
        assert admin_secret is not None
        admin_auth = await _auth(client, admin.client_id, admin_secret)
        response = await client.post(
            "/api/v1/publishers", json={"code": CODE, "name": "Kota Balapan"}, headers=admin_auth
        )
        assert response.status_code == 201, response.text
        with session_scope(real_engine) as session:
            owner, owner_secret = create_client(
                session,
                name="racer",
                scopes="catalog:write sharing:write",
                publisher_id=uuid.UUID(response.json()["id"]),
                settings=settings,
            )
        assert owner_secret is not None
        owner_auth = await _auth(client, owner.client_id, owner_secret)
        yield client, owner_auth, admin_auth


async def _auth(client: httpx2.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _create(client, auth, path, body) -> tuple[str, str]:
    response = await client.post(path, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return f"{path}/{response.json()['id']}", response.headers["ETag"]


async def _item(kind: str, client, owner, admin) -> tuple[str, str, dict, dict]:
    """An item of ``kind``: its URL, ETag, a change for PATCH and the headers to use."""
    if kind == "publisher":
        response = await client.get(f"/api/v1/publishers/{CODE}")
        url = f"/api/v1/publishers/{response.json()['id']}"
        return url, response.headers["ETag"], {"name": "Kota Balapan Baru"}, admin
    app_url, app_etag = await _create(
        client, owner, "/api/v1/apps", {"slug": "balap", "name": "Balap", "visibility": "public"}
    )
    if kind == "app":
        return app_url, app_etag, {"name": "Balap Baru"}, owner
    if kind == "release":
        url, etag = await _create(client, owner, f"{app_url}/releases", {"version": "1.0.0"})
        return url, etag, {"notes": "catatan"}, owner
    if kind == "adoption":
        url, etag = await _create(
            client, owner, "/api/v1/adoptions", {"app_id": app_url.rsplit("/", 1)[1]}
        )
        return url, etag, {"status": "piloting"}, owner
    dataset_url, dataset_etag = await _create(
        client,
        owner,
        "/api/v1/datasets",
        {"slug": "data", "title": {"id": "Data"}, "visibility": "public"},
    )
    if kind == "dataset":
        return dataset_url, dataset_etag, {"title": {"id": "Data Baru"}}, owner
    url, etag = await _create(
        client,
        owner,
        f"{dataset_url}/distributions",
        {"title": "CSV", "access_url": "https://data.example/x.csv"},
    )
    return url, etag, {"title": "CSV Baru"}, owner


KINDS = ["publisher", "app", "release", "dataset", "distribution", "adoption"]


@pytest.mark.parametrize("kind", KINDS)
async def test_racing_patches_with_one_etag_let_exactly_one_through(racing, kind):
    client, owner, admin = racing
    url, etag, change, auth = await _item(kind, client, owner, admin)
    responses = await asyncio.gather(
        *(client.patch(url, json=change, headers=auth | {"If-Match": etag}) for _ in range(RACERS))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: RACERS - 1}, [
        r.text for r in responses if r.status_code >= 500
    ]


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "publisher"])
async def test_racing_deletes_with_one_etag_let_exactly_one_through(racing, kind):
    client, owner, admin = racing
    url, etag, _, auth = await _item(kind, client, owner, admin)
    responses = await asyncio.gather(
        *(client.delete(url, headers=auth | {"If-Match": etag}) for _ in range(RACERS))
    )
    statuses = Counter(r.status_code for r in responses)
    # The losers find it changed (412) or, if they read it after the winner's commit,
    # gone (404): never a second 204.
    assert statuses[204] == 1, statuses
    assert statuses[412] + statuses[404] == RACERS - 1, [r.text for r in responses]


async def test_racing_creates_with_one_idempotency_key_replay_the_first(racing):
    client, owner, _ = racing
    body = {"slug": "sekali", "name": "Sekali Saja", "visibility": "public"}
    headers = owner | {"Idempotency-Key": "balapan-1"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/apps", json=body, headers=headers) for _ in range(RACERS))
    )
    assert Counter(r.status_code for r in responses) == {201: RACERS}, [
        r.text for r in responses if r.status_code != 201
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == RACERS - 1
    listed = await client.get("/api/v1/apps", params={"q": "sekali"}, headers=owner)
    assert len(listed.json()["items"]) == 1


async def test_racing_creates_with_one_key_and_other_bodies_are_refused(racing):
    client, owner, _ = racing
    headers = owner | {"Idempotency-Key": "balapan-2"}
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/apps",
                json={"slug": f"lain-{n}", "name": "Lain", "visibility": "public"},
                headers=headers,
            )
            for n in range(RACERS)
        )
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 422: RACERS - 1}

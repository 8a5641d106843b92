"""The asynchronous client against a real node: the same surface as the sync one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lumbung_client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    PreconditionFailed,
    Publisher,
    Unauthorized,
    ValidationFailed,
)

from .conftest import FileServer, Node


async def test_async_app_lifecycle(node: Node, publisher: Publisher) -> None:
    async with node.async_admin() as client:
        app = await client.apps.create(
            publisher=publisher.code, slug="async-app", name="Async App", visibility="public"
        )
        assert (await client.apps.get(app.ref)).id == app.id
        updated = await client.apps.update(app, name="Async App 2")
        with pytest.raises(PreconditionFailed):
            await client.apps.update(app, name="stale")
        with pytest.raises(Conflict):
            await client.apps.create(publisher=publisher.code, slug="async-app", name="Again")
        with pytest.raises(ValidationFailed):
            await client.apps.create(publisher=publisher.code, slug="BAD SLUG", name="x")
        await client.apps.delete(updated)
        with pytest.raises(NotFound):
            await client.apps.get(app.id)


async def test_async_for_follows_cursors(node: Node, publisher: Publisher) -> None:
    async with node.async_admin() as client:
        for i in range(5):
            await client.apps.create(publisher=publisher.code, slug=f"a-{i}", name=f"A {i}")
        slugs = [a.slug async for a in client.apps.list(publisher=publisher.code, limit=2)]
        assert sorted(slugs) == [f"a-{i}" for i in range(5)]
        sizes = [
            len(p.items) async for p in client.apps.list(publisher=publisher.code, limit=2).pages()
        ]
        assert sizes == [2, 2, 1]
        first = await client.apps.list(publisher=publisher.code, limit=3).first_page()
        assert len(first.items) == 3
        assert first.next_cursor


async def test_async_releases_and_datasets(node: Node, publisher: Publisher) -> None:
    async with node.async_admin() as client:
        app = await client.apps.create(publisher=publisher.code, slug="rilis-async", name="R")
        await client.releases.create(app.ref, version="0.1.0")
        r2 = await client.releases.create(app, version="0.2.0")
        assert (await client.releases.latest(app.ref)).id == r2.id
        assert [r.version async for r in client.releases.list(app.ref)] == ["0.1.0", "0.2.0"]
        assert (await client.releases.get(app, "0.1.0")).version == "0.1.0"
        await client.releases.delete("0.1.0", app=app)
        assert await client.releases.list(app).all() == [await client.releases.get(app, r2.id)]

        dataset = await client.datasets.create(
            publisher=publisher.code, slug="ds-async", title={"id": "Data"}
        )
        dist = await client.distributions.create(dataset.ref, access_url="https://x.example/d")
        assert [d.id async for d in client.distributions.list(dataset.ref)] == [dist.id]
        dist = await client.distributions.update(dist, format="CSV")
        await client.distributions.delete(dist)
        await client.datasets.delete(await client.datasets.get(dataset.ref))


async def test_racing_tasks_fetch_one_token(node: Node, publisher: Publisher) -> None:
    async with node.async_admin() as client:
        created = await asyncio.gather(
            *(
                client.apps.create(publisher=publisher.code, slug=f"serentak-{i}", name="S")
                for i in range(10)
            )
        )
        assert len({a.id for a in created}) == 10
        assert client._tokens is not None
        assert client._tokens.fetches == 1


async def test_async_wrong_secret_is_unauthorized(node: Node) -> None:
    async with AsyncClient(node.url, client_id=node.client_id, client_secret="no") as client:
        with pytest.raises(Unauthorized):
            await client.token()


async def test_async_pull(
    node: Node, admin: Client, publisher: Publisher, file_server: FileServer, tmp_path: Path
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="tarik-async", name="T")
    artifact = file_server.add("tarik-1.0.zip", b"isi berkas " * 5000)
    admin.releases.create(app, version="1.0", artifacts=[artifact])
    async with node.async_admin() as client:
        result = await client.apps.pull(app.ref, dest=tmp_path / "out")
        [pulled] = result.files
        assert pulled.verified
        assert pulled.path.read_bytes() == b"isi berkas " * 5000

        first = await client.apps.pull(
            app, dest=tmp_path / "out", adopt=True, publisher=publisher.code
        )
        again = await client.apps.pull(
            app, dest=tmp_path / "out", adopt=True, publisher=publisher.code
        )
    assert first.adoption is not None
    assert again.adoption is not None
    assert again.adoption.id == first.adoption.id
    assert again.files[0].reused


async def test_async_search(node: Node, publisher: Publisher) -> None:
    async with node.async_admin() as client:
        paths = (await client._transport.http.get(node.url + "/openapi.json")).json()["paths"]
        if "/api/v1/search" not in paths:
            pytest.skip("the node does not serve /api/v1/search yet")
        app = await client.apps.create(
            publisher=publisher.code, slug="cari-async", name="Cari", visibility="public"
        )
        hits = [h async for h in client.search("cari-async", publisher=publisher.code)]
        assert [h.id for h in hits] == [app.id]
        page = await client.search("cari-async", publisher=publisher.code).first_page()
        assert page.total == 1

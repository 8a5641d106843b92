"""Anonymous API reads are answered from answers kept per catalog version
(``registry.viewcache.AnonymousReadCache``): never a hidden item, never the anonymous
answer for a reader with a token, never an answer from before a change."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from registry import viewcache
from registry.catalog import service as catalog_service
from registry.catalog.models import App, Publisher, PublisherKind, Visibility
from registry.db import table_of
from registry.peers import Peer

PARTNER = "https://pariaman.example"


@pytest.fixture
def owner(make_publisher) -> Publisher:
    return make_publisher("kab-banyuwangi")


@pytest.fixture
def shown(owner, make_app, make_dataset) -> dict[str, set[str]]:
    """An app and a dataset of each visibility: the ids an anonymous reader may see
    (``public``), the others (``hidden``), and the paths of the hidden ones."""
    public: set[str] = set()
    hidden: set[str] = set()
    paths: set[str] = set()
    for visibility in Visibility:
        slug = f"layanan-{visibility.value}"
        app = str(make_app(owner, slug, visibility=visibility.value).id)
        dataset = str(make_dataset(owner, slug, visibility=visibility.value).id)
        (public if visibility is Visibility.public else hidden).update({app, dataset})
        if visibility is not Visibility.public:
            paths |= {f"/api/v1/apps/{app}", f"/api/v1/datasets/{dataset}"}
    return {"public": public, "hidden": hidden, "hidden_paths": paths}


def ids_in(body: dict[str, Any]) -> set[str]:
    return {item["id"] for item in body["items"]}


@pytest.fixture
def list_apps_calls(monkeypatch) -> list[int]:
    """Counts the times the apps list is really read (not given from the cache)."""
    calls: list[int] = []
    real = catalog_service.list_apps

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog_service, "list_apps", counted)
    return calls


async def test_anonymous_list_is_read_once_while_nothing_changes(client, shown, list_apps_calls):
    first = await client.get("/api/v1/apps?limit=2")
    again = await client.get("/api/v1/apps?limit=2")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert list_apps_calls == [1]
    # The headers that belong to the answer come with it.
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers.get("link") == first.headers.get("link")
    # Another query string is another answer.
    other = await client.get("/api/v1/apps?limit=1")
    assert list_apps_calls == [1, 1]
    assert len(other.json()["items"]) == 1


async def test_anonymous_cached_pages_never_show_hidden_items(client, shown, list_apps_calls):
    for path in ("/api/v1/apps", "/api/v1/datasets", "/api/v1/search"):
        for _ in range(2):
            response = await client.get(path)
            assert response.status_code == 200
            assert ids_in(response.json()) <= shown["public"], path
            assert not ids_in(response.json()) & shown["hidden"], path
    assert list_apps_calls == [1]
    for path in shown["hidden_paths"]:
        for _ in range(2):
            assert (await client.get(path)).status_code == 404, path


async def test_reader_with_a_token_gets_their_own_view(
    client, shown, owner, token_for, list_apps_calls
):
    anonymous = await client.get("/api/v1/apps")
    assert ids_in(anonymous.json()) <= shown["public"]
    auth = await token_for(owner, "catalog:write")
    # The owner sees their partners and private apps at the very same address.
    own = await client.get("/api/v1/apps", headers=auth)
    assert own.status_code == 200
    assert ids_in(own.json()) & shown["hidden"]
    again = await client.get("/api/v1/apps", headers=auth)
    assert ids_in(again.json()) == ids_in(own.json())
    assert list_apps_calls == [1, 1, 1]
    # And the owner's answer is never given to an anonymous reader.
    later = await client.get("/api/v1/apps")
    assert later.content == anonymous.content
    # A token that is not valid is refused, not answered from the cache.
    bad = await client.get("/api/v1/apps", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


async def test_after_each_write_the_next_anonymous_read_is_fresh(client, owner, token_for):
    auth = await token_for(owner, "catalog:write")
    assert (await client.get("/api/v1/apps")).json()["items"] == []
    assert (await client.get("/api/v1/datasets")).json()["items"] == []

    created = await client.post(
        "/api/v1/apps",
        json={"slug": "sipadu", "name": "SiPadu", "visibility": "public"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    listed = (await client.get("/api/v1/apps")).json()["items"]
    assert [item["name"] for item in listed] == ["SiPadu"]
    single = await client.get(f"/api/v1/apps/{app_id}")
    assert single.json()["name"] == "SiPadu"
    found = (await client.get("/api/v1/search?q=sipadu")).json()["items"]
    assert [hit["id"] for hit in found] == [app_id]

    patched = await client.patch(
        f"/api/v1/apps/{app_id}", json={"name": "SiPadu Desa"}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    assert (await client.get(f"/api/v1/apps/{app_id}")).json()["name"] == "SiPadu Desa"
    assert (await client.get(f"/api/v1/apps/{app_id}")).headers["etag"] == patched.headers["etag"]
    assert [i["name"] for i in (await client.get("/api/v1/apps")).json()["items"]] == [
        "SiPadu Desa"
    ]

    assert (await client.get(f"/api/v1/apps/{app_id}/releases")).json()["items"] == []
    release = await client.post(
        f"/api/v1/apps/{app_id}/releases", json={"version": "1.0.0"}, headers=auth
    )
    assert release.status_code == 201, release.text
    releases = (await client.get(f"/api/v1/apps/{app_id}/releases")).json()["items"]
    assert [r["version"] for r in releases] == ["1.0.0"]

    dataset = await client.post(
        "/api/v1/datasets",
        json={"slug": "penduduk", "title": {"id": "Penduduk"}, "visibility": "public"},
        headers=auth,
    )
    assert dataset.status_code == 201, dataset.text
    datasets = (await client.get("/api/v1/datasets")).json()["items"]
    assert [d["id"] for d in datasets] == [dataset.json()["id"]]

    # Made private: gone for anonymous readers at once.
    hidden = await client.patch(
        f"/api/v1/apps/{app_id}", json={"visibility": "private"}, headers=auth
    )
    assert hidden.status_code == 200, hidden.text
    assert (await client.get("/api/v1/apps")).json()["items"] == []
    assert (await client.get(f"/api/v1/apps/{app_id}")).status_code == 404
    made_public = await client.patch(
        f"/api/v1/apps/{app_id}", json={"visibility": "public"}, headers=auth
    )
    assert made_public.status_code == 200, made_public.text
    assert (await client.get(f"/api/v1/apps/{app_id}")).status_code == 200

    deleted = await client.delete(f"/api/v1/apps/{app_id}", headers=auth)
    assert deleted.status_code == 204, deleted.text
    assert (await client.get("/api/v1/apps")).json()["items"] == []
    assert (await client.get(f"/api/v1/apps/{app_id}")).status_code == 404
    assert (await client.get("/api/v1/search?q=sipadu")).json()["items"] == []


async def test_an_applied_feed_page_makes_the_next_read_fresh(client, session, owner):
    """Mirror rows are written without the change counter (they keep change_seq 0);
    the peer's cursor, moved in the same transaction, is what moves the version."""
    session.add(
        Peer(
            node_id=PARTNER,
            name="Kota Pariaman",
            api_base=f"{PARTNER}/api/v1",
            issuer=PARTNER,
            jwks_uri=f"{PARTNER}/.well-known/jwks.json",
            feed_url=f"{PARTNER}/federation/v1/changes",
            token_endpoint=f"{PARTNER}/oauth/token",
        )
    )
    city = Publisher(
        code="kota-pariaman", name="Kota Pariaman", kind=PublisherKind.city, origin=PARTNER
    )
    session.add(city)
    session.commit()
    assert (await client.get("/api/v1/apps")).json()["items"] == []
    connection = session.connection()
    mirror = App(
        slug="cermin", name="Cermin", visibility=Visibility.public, publisher_id=city.id,
        origin=PARTNER,
    )  # fmt: skip
    values = {c.name: getattr(mirror, c.name) for c in table_of(App).columns}
    values["change_seq"] = 0
    connection.execute(sa.insert(table_of(App)).values(**values))
    connection.execute(
        sa.update(table_of(Peer)).where(table_of(Peer).c.node_id == PARTNER).values(cursor="7")
    )
    session.commit()
    assert [i["name"] for i in (await client.get("/api/v1/apps")).json()["items"]] == ["Cermin"]


async def test_a_new_day_makes_the_next_read_fresh(client, shown, list_apps_calls, monkeypatch):
    await client.get("/api/v1/apps")
    await client.get("/api/v1/apps")
    assert list_apps_calls == [1]
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    monkeypatch.setattr(viewcache, "today", lambda: tomorrow)
    await client.get("/api/v1/apps")
    assert list_apps_calls == [1, 1]


async def test_only_plain_successful_reads_are_kept(client, app, shown, owner, token_for):
    cache = app.state.api_cache
    missing = "/api/v1/apps/01930000-0000-7000-8000-000000000000"
    assert (await client.get(missing)).status_code == 404
    assert (await client.get("/api/v1/apps?limit=0")).status_code == 422
    auth = await token_for(owner, "catalog:write")
    assert (await client.get("/api/v1/apps", headers=auth)).status_code == 200
    await client.post(
        "/api/v1/apps", json={"slug": "baru", "name": "Baru", "visibility": "public"}, headers=auth
    )
    assert len(cache) == 0
    listed = await client.get("/api/v1/apps")
    assert len(cache) == 1
    # A conditional read goes to the route.
    await client.get("/api/v1/apps", headers={"If-None-Match": listed.headers.get("etag", "x")})
    assert len(cache) == 1
    # Outside /api/v1: the change feed, the token endpoint, the pages' own cache.
    await client.get("/federation/v1/changes")
    await client.get("/.well-known/oauth-authorization-server")
    assert len(cache) == 1


async def test_content_negotiation_is_part_of_the_key(client, owner, make_dataset):
    dataset = make_dataset(owner, "penduduk", visibility="public")
    path = f"/api/v1/datasets/{dataset.id}"
    as_json = await client.get(path)
    assert as_json.status_code == 200
    assert as_json.headers["content-type"].startswith("application/json")
    turtle = await client.get(path, headers={"Accept": "text/turtle"}, follow_redirects=False)
    assert turtle.status_code != 200 or turtle.headers["content-type"].startswith("text/turtle")
    assert turtle.content != as_json.content
    again = await client.get(path)
    assert again.content == as_json.content


async def test_streamed_answers_are_passed_on_not_kept(monkeypatch):
    """A DCAT catalog export and the like arrive in pieces: passed on as they come,
    never kept (nor is an answer larger than the cap)."""
    monkeypatch.setattr(viewcache, "current_version", lambda state: "v1")
    kept = viewcache.ViewCache(size=8, max_bytes=1 << 20)
    body = [b"x" * 10]

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    async def whole(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body[0]})

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    def request(path: str) -> dict[str, Any]:
        return {
            "type": "http", "method": "GET", "path": path, "query_string": b"",
            "headers": [], "app": SimpleNamespace(state=None),
        }  # fmt: skip

    stream = viewcache.AnonymousReadCache(streaming, cache=lambda: kept, max_entry_bytes=16)
    await stream(request("/api/v1/x"), receive, send)
    assert [m.get("body") for m in sent[1:]] == [b"a", b"b"]
    assert len(kept) == 0

    small = viewcache.AnonymousReadCache(whole, cache=lambda: kept, max_entry_bytes=16)
    await small(request("/api/v1/y"), receive, send)
    assert len(kept) == 1
    body[0] = b"x" * 17
    await small(request("/api/v1/z"), receive, send)
    assert len(kept) == 1

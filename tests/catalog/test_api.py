"""The catalog API as a city IT team uses it: create, read, list, update, delete."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from registry.catalog.models import App, Release

FULL_APP = {
    "slug": "smart-kampung",
    "name": "Smart Kampung",
    "url": "https://git.example/banyuwangi/smart-kampung",
    "landing_url": "https://smartkampung.example",
    "description": {
        "id": {
            "short_description": "Layanan administrasi desa secara daring",
            "long_description": "Warga mengurus surat keterangan dari desa.",
            "features": ["Surat keterangan", "Pelacakan permohonan"],
        },
        "en": {"short_description": "Online village administration services"},
    },
    "categories": ["document-management"],
    "software_type": "standalone/web",
    "development_status": "stable",
    "license": "EUPL-1.2",
    "platforms": ["web", "android"],
    "maintenance": {
        "type": "internal",
        "contacts": [{"name": "Diskominfo", "email": "kominfo@banyuwangi.example"}],
    },
    "localisation": {"localisation_ready": True, "available_languages": ["id", "en", "jv"]},
    "spbe_class": "umum",
    "tags": ["desa", "pelayanan-publik"],
    "visibility": "public",
}


@pytest.fixture
async def banyuwangi(make_publisher, token_for):
    publisher = make_publisher("kab-banyuwangi", kind="regency", region_code="35.10")
    return publisher, await token_for(publisher, "catalog:write")


async def test_app_lifecycle(client, banyuwangi):
    _, auth = banyuwangi
    created = await client.post("/api/v1/apps", json=FULL_APP, headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["publisher"] == "kab-banyuwangi"
    assert body["description"]["id"]["features"] == ["Surat keterangan", "Pelacakan permohonan"]
    assert body["global_id"] == f"http://testserver/api/v1/apps/{body['id']}"
    assert created.headers["Location"] == f"/api/v1/apps/{body['id']}"

    read = await client.get(f"/api/v1/apps/{body['id']}")
    assert read.status_code == 200
    etag = read.headers["ETag"]
    assert read.json()["etag"] == etag

    updated = await client.patch(
        f"/api/v1/apps/{body['id']}",
        json={"development_status": "beta"},
        headers=auth | {"If-Match": etag},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["development_status"] == "beta"
    assert updated.headers["ETag"] != etag

    stale = await client.patch(
        f"/api/v1/apps/{body['id']}", json={"name": "X"}, headers=auth | {"If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"

    deleted = await client.delete(
        f"/api/v1/apps/{body['id']}", headers=auth | {"If-Match": updated.headers["ETag"]}
    )
    assert deleted.status_code == 204
    assert (await client.get(f"/api/v1/apps/{body['id']}")).status_code == 404


async def test_release_and_distribution(client, banyuwangi, make_app, make_dataset):
    publisher, auth = banyuwangi
    app = make_app(publisher)
    release = await client.post(
        f"/api/v1/apps/{app.id}/releases",
        json={
            "version": "1.2.0",
            "notes": "Perbaikan keamanan",
            "artifacts": [
                {
                    "name": "smart-kampung-1.2.0.tar.gz",
                    "url": "https://git.example/releases/smart-kampung-1.2.0.tar.gz",
                    "sha256": "a" * 64,
                    "size": 1024,
                    "media_type": "application/gzip",
                }
            ],
        },
        headers=auth,
    )
    assert release.status_code == 201, release.text
    assert release.json()["released_at"] is not None
    listed = await client.get(f"/api/v1/apps/{app.id}/releases")
    assert [r["version"] for r in listed.json()["items"]] == ["1.2.0"]

    dataset = make_dataset(publisher)
    distribution = await client.post(
        f"/api/v1/datasets/{dataset.id}/distributions",
        json={"access_url": "https://data.example/p.csv", "format": "CSV", "byte_size": 10},
        headers=auth,
    )
    assert distribution.status_code == 201, distribution.text
    by_format = await client.get("/api/v1/datasets", params={"format": "csv"})
    assert [d["slug"] for d in by_format.json()["items"]] == ["penduduk"]


async def test_a_byte_size_beyond_64_bits_is_422_and_stores_nothing(
    client, banyuwangi, make_dataset
):
    publisher, auth = banyuwangi
    dataset = make_dataset(publisher)
    url = f"/api/v1/datasets/{dataset.id}/distributions"
    body = {"access_url": "https://data.example/p.csv", "byte_size": 2**63}
    refused = await client.post(url, json=body, headers=auth)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "byte_size"]
    assert (await client.get(url)).json()["items"] == []
    largest = await client.post(url, json={**body, "byte_size": 2**63 - 1}, headers=auth)
    assert largest.status_code == 201, largest.text
    assert largest.json()["byte_size"] == 2**63 - 1


async def test_duplicate_slug_is_409_naming_the_slug(client, banyuwangi):
    _, auth = banyuwangi
    assert (await client.post("/api/v1/apps", json=FULL_APP, headers=auth)).status_code == 201
    again = await client.post("/api/v1/apps", json=FULL_APP, headers=auth)
    assert again.status_code == 409
    assert "smart-kampung" in again.json()["detail"]
    assert again.json()["errors"][0]["loc"] == ["body", "slug"]


async def test_deleted_slug_can_be_reused(client, banyuwangi):
    _, auth = banyuwangi
    first = (await client.post("/api/v1/apps", json=FULL_APP, headers=auth)).json()
    await client.delete(f"/api/v1/apps/{first['id']}", headers=auth)
    assert (await client.post("/api/v1/apps", json=FULL_APP, headers=auth)).status_code == 201


async def test_idempotency_key_creates_once(client, banyuwangi, session):
    _, auth = banyuwangi
    headers = auth | {"Idempotency-Key": "release-pipeline-42"}
    first = await client.post("/api/v1/apps", json=FULL_APP, headers=headers)
    second = await client.post("/api/v1/apps", json=FULL_APP, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert session.exec(select(func.count()).select_from(App)).one() == 1

    other_body = await client.post(
        "/api/v1/apps", json=FULL_APP | {"slug": "lain"}, headers=headers
    )
    assert other_body.status_code == 422
    assert session.exec(select(func.count()).select_from(App)).one() == 1


async def test_an_idempotency_key_belongs_to_the_client_that_used_it(
    client, banyuwangi, make_publisher, token_for
):
    # Another client sending the same key gets its own request executed, never the
    # first client's stored response (which may describe a private item).
    _, auth = banyuwangi
    pariaman = make_publisher("kota-pariaman")
    other = await token_for(pariaman, "catalog:write")
    key = {"Idempotency-Key": "nightly-import"}
    private = FULL_APP | {"visibility": "private"}

    first = await client.post("/api/v1/apps", json=private, headers=auth | key)
    second = await client.post("/api/v1/apps", json=private, headers=other | key)

    assert first.status_code == second.status_code == 201, second.text
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["publisher"] == "kota-pariaman"
    assert second.json()["id"] != first.json()["id"]


async def test_pagination_follows_cursor_and_link(client, banyuwangi, make_app):
    publisher, _ = banyuwangi
    for n in range(5):
        make_app(publisher, f"app-{n}")
    seen: list[str] = []
    url: str | None = "/api/v1/apps?limit=2"
    while url:
        response = await client.get(url)
        page = response.json()
        seen += [a["slug"] for a in page["items"]]
        if page["next_cursor"]:
            assert 'rel="next"' in response.headers["Link"]
            url = f"/api/v1/apps?limit=2&cursor={page['next_cursor']}"
        else:
            url = None
    assert seen == [f"app-{n}" for n in range(5)]


async def test_bad_cursor_and_limit_are_422(client):
    assert (await client.get("/api/v1/apps?cursor=%%%")).status_code == 422
    assert (await client.get("/api/v1/apps?limit=201")).status_code == 422


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "health"}, ["puskesmas"]),
        ({"tag": "desa"}, ["layanan-desa"]),
        ({"platform": "android"}, ["puskesmas"]),
        ({"development_status": "beta"}, ["layanan-desa"]),
        ({"license": "MIT"}, ["puskesmas"]),
        ({"spbe_class": "khusus"}, ["puskesmas"]),
        ({"q": "ANTRIAN"}, ["puskesmas"]),
        ({"publisher": "kota-pariaman"}, ["puskesmas"]),
        ({"visibility": "public"}, ["layanan-desa", "puskesmas"]),
    ],
)
async def test_app_filters(client, make_publisher, make_app, params, expected):
    banyuwangi = make_publisher("kab-banyuwangi")
    pariaman = make_publisher("kota-pariaman")
    make_app(banyuwangi, "layanan-desa", tags=["desa"], development_status="beta")
    make_app(
        pariaman,
        "puskesmas",
        categories=["health"],
        platforms=["web", "android"],
        license="MIT",
        spbe_class="khusus",
        description={"id": {"short_description": "Antrian puskesmas daring"}},
    )
    response = await client.get("/api/v1/apps", params=params)
    assert [a["slug"] for a in response.json()["items"]] == expected


async def test_anonymous_sees_only_public(client, make_publisher, make_app, token_for):
    owner = make_publisher("kab-banyuwangi")
    for visibility in ("public", "partners", "private"):
        make_app(owner, f"app-{visibility}", visibility=visibility)
    anonymous = await client.get("/api/v1/apps")
    assert [a["slug"] for a in anonymous.json()["items"]] == ["app-public"]

    own = await client.get("/api/v1/apps", headers=await token_for(owner, "catalog:write"))
    assert len(own.json()["items"]) == 3

    stranger = make_publisher("kota-surabaya")
    other = await client.get("/api/v1/apps", headers=await token_for(stranger, "catalog:write"))
    assert [a["slug"] for a in other.json()["items"]] == ["app-public"]

    private_id = own.json()["items"][2]["id"]
    assert (await client.get(f"/api/v1/apps/{private_id}")).status_code == 404


async def test_release_of_hidden_app_is_hidden(client, make_publisher, make_app, session):
    app = make_app(make_publisher("kab-banyuwangi"), visibility="private")
    session.add(Release(app_id=app.id, version="1.0"))
    session.commit()
    assert (await client.get(f"/api/v1/apps/{app.id}/releases")).status_code == 404


async def test_publishers_are_listed_and_found_by_code(client, make_publisher):
    make_publisher("kab-banyuwangi", kind="regency", region_code="35.10")
    listed = await client.get("/api/v1/publishers")
    assert [p["code"] for p in listed.json()["items"]] == ["kab-banyuwangi"]
    one = await client.get("/api/v1/publishers/kab-banyuwangi")
    assert one.json()["region_code"] == "35.10"


async def test_health(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


@pytest.mark.parametrize(
    ("collection", "body"),
    [
        ("apps", {"slug": "layanan", "name": "Layanan", "visibility": "private"}),
        ("datasets", {"slug": "penduduk", "title": {"id": "Penduduk"}, "visibility": "private"}),
    ],
)
async def test_a_patched_visibility_is_stored_as_the_enum(client, banyuwangi, collection, body):
    # Found by fuzzing: PATCH stored visibility as the JSON string, so the next read
    # of the row serialised a str where the model holds an enum (a warning on every
    # response, and a 500 wherever warnings are errors).
    _, auth = banyuwangi
    created = await client.post(f"/api/v1/{collection}", json=body, headers=auth)
    assert created.status_code == 201, created.text
    url = f"/api/v1/{collection}/{created.json()['id']}"

    patched = await client.patch(url, json={"visibility": "public"}, headers=auth)

    assert patched.status_code == 200, patched.text
    assert patched.json()["visibility"] == "public"
    assert (await client.get(url, headers=auth)).json()["visibility"] == "public"


async def test_every_create_answers_where_the_new_item_lives(
    client, banyuwangi, make_app, make_dataset, token_for
):
    publisher, _ = banyuwangi
    app = make_app(publisher, "smart-kampung")
    dataset = make_dataset(publisher, "penduduk")
    writer = await token_for(publisher, "catalog:write sharing:write")
    creates = [
        ("/api/v1/publishers", {"code": "kota-pariaman", "name": "Kota Pariaman"}),
        ("/api/v1/apps", {"slug": "e-retribusi", "name": "E-Retribusi"}),
        (f"/api/v1/apps/{app.id}/releases", {"version": "1.0.0"}),
        ("/api/v1/datasets", {"slug": "sekolah", "title": {"id": "Sekolah"}}),
        (f"/api/v1/datasets/{dataset.id}/distributions", {"access_url": "https://data.example/a"}),
        ("/api/v1/adoptions", {"app_id": str(app.id)}),
    ]
    admin = await token_for(None, "admin")
    for collection, body in creates:
        headers = (admin if collection.endswith("publishers") else writer) | {
            "Idempotency-Key": f"create{collection}"
        }
        first = await client.post(collection, json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert first.headers["Location"] == f"{collection}/{first.json()['id']}"
        assert first.headers["ETag"] == first.json()["etag"]
        # A retry whose answer got lost is told the same place.
        again = await client.post(collection, json=body, headers=headers)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Location"] == first.headers["Location"]

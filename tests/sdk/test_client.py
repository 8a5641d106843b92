"""The synchronous client against a real node."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import httpx2
import pytest

from lumbung_client import (
    App,
    AppCreate,
    Client,
    Conflict,
    Forbidden,
    NotFound,
    Page,
    PreconditionFailed,
    Publisher,
    Unauthorized,
    ValidationFailed,
)

from .conftest import Node


def make_app(client: Client, publisher: Publisher, slug: str, **fields: Any) -> App:
    fields.setdefault("visibility", "public")
    return client.apps.create(publisher=publisher.code, slug=slug, name=slug.title(), **fields)


def test_app_round_trip_keeps_every_field(admin: Client, publisher: Publisher) -> None:
    created = admin.apps.create(
        AppCreate(
            publisher=publisher.code,
            slug="layanan-sampah",
            name="Layanan Sampah",
            categories=["waste-management"],
            development_status="stable",
            license="EUPL-1.2",
            platforms=["web", "android"],
            spbe_class="umum",
            tags=["lingkungan"],
            visibility="public",
        ),
        description={
            "id": {"short_description": "Jadwal angkut sampah", "features": ["Jadwal"]},
        },
        maintenance={"type": "internal", "contacts": [{"name": "Diskominfo"}]},
    )
    assert created.publisher == publisher.code
    assert created.ref == f"{publisher.code}/layanan-sampah"
    assert created.description["id"].short_description == "Jadwal angkut sampah"
    assert created.maintenance is not None
    assert created.maintenance.contacts[0].name == "Diskominfo"
    assert created.etag

    fetched = admin.apps.get(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert admin.apps.get(created.ref).id == created.id
    assert admin.apps.get(str(created.id)).id == created.id


def test_update_sends_if_match_from_the_object(admin: Client, publisher: Publisher) -> None:
    app = make_app(admin, publisher, "surat-online")
    updated = admin.apps.update(app, name="Surat Online", tags=["surat"])
    assert updated.name == "Surat Online"
    assert updated.etag != app.etag

    with pytest.raises(PreconditionFailed) as stale:
        admin.apps.update(app, name="A stale write")
    assert stale.value.status == 412
    assert admin.apps.get(app.id).name == "Surat Online"

    with pytest.raises(PreconditionFailed):
        admin.apps.delete(app)
    admin.apps.delete(updated)
    with pytest.raises(NotFound):
        admin.apps.get(app.id)


def test_update_by_id_with_explicit_if_match(admin: Client, publisher: Publisher) -> None:
    app = make_app(admin, publisher, "retribusi")
    assert app.etag is not None
    admin.apps.update(app.id, if_match=app.etag, development_status="beta")
    with pytest.raises(PreconditionFailed):
        admin.apps.update(app.id, if_match=app.etag, development_status="stable")
    # Without an ETag the write is unconditional.
    assert admin.apps.update(app.id, development_status="stable").development_status == "stable"


def test_setting_a_field_to_none_clears_it(admin: Client, publisher: Publisher) -> None:
    app = make_app(admin, publisher, "kosong", license="MIT")
    assert admin.apps.update(app, license=None).license is None


def test_list_follows_cursors_across_pages(admin: Client, publisher: Publisher) -> None:
    slugs = {f"app-{i}" for i in range(5)}
    for slug in sorted(slugs):
        make_app(admin, publisher, slug)

    listing = admin.apps.list(publisher=publisher.code, limit=2)
    assert {app.slug for app in listing} == slugs
    pages = list(admin.apps.list(publisher=publisher.code, limit=2).pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    first = admin.apps.list(publisher=publisher.code, limit=2).first_page()
    assert isinstance(first, Page)
    assert first.next_cursor
    assert first.has_next
    rest = admin.apps.list(publisher=publisher.code, limit=2, cursor=first.next_cursor).all()
    assert len(rest) == 3


def test_list_filters_are_sent(admin: Client, publisher: Publisher) -> None:
    make_app(admin, publisher, "sehat", categories=["health"], spbe_class="khusus")
    make_app(admin, publisher, "jalan", categories=["transport"], spbe_class="umum")
    health = admin.apps.list(publisher=publisher.code, category="health").all()
    assert [a.slug for a in health] == ["sehat"]
    umum = admin.apps.list(publisher=publisher.code, spbe_class="umum").all()
    assert [a.slug for a in umum] == ["jalan"]


def test_anonymous_client_sees_public_apps_only(
    node: Node, admin: Client, publisher: Publisher
) -> None:
    make_app(admin, publisher, "terbuka", visibility="public")
    make_app(admin, publisher, "rahasia", visibility="private")
    with Client(node.url) as anonymous:
        seen = {a.slug for a in anonymous.apps.list(publisher=publisher.code)}
        assert seen == {"terbuka"}
        with pytest.raises(NotFound):
            anonymous.apps.get(f"{publisher.code}/rahasia")
        with pytest.raises(Unauthorized):
            make_app(anonymous, publisher, "tanpa-izin")


def test_node_validation_errors_name_each_field(admin: Client, publisher: Publisher) -> None:
    with pytest.raises(ValidationFailed) as caught:
        admin.apps.create(
            publisher=publisher.code, slug="Bukan Slug", name="x", license="NOT-A-LICENSE"
        )
    fields = {e.field for e in caught.value.errors}
    assert {"slug", "license"} <= fields
    assert caught.value.status == 422
    assert "slug" in str(caught.value)


def test_unknown_fields_fail_before_sending(admin: Client, publisher: Publisher) -> None:
    with pytest.raises(ValidationFailed) as caught:
        admin.apps.create(publisher=publisher.code, slug="x", name="x", colour="red")
    assert [e.field for e in caught.value.errors] == ["colour"]
    assert admin.apps.list(publisher=publisher.code).all() == []


def test_a_plain_string_title_names_the_field(admin: Client, publisher: Publisher) -> None:
    """Titles are given per language; a plain string is refused before sending, as a
    ValidationFailed that names the field and shows the right shape."""
    with pytest.raises(ValidationFailed) as caught:
        admin.datasets.create(publisher=publisher.code, slug="data", title="Data Penduduk")
    [error] = caught.value.errors
    assert error.field == "title"
    assert '{"id": ' in error.msg
    assert "title" in str(caught.value)
    assert admin.datasets.list(publisher=publisher.code).all() == []


def test_duplicate_slug_is_a_conflict(admin: Client, publisher: Publisher) -> None:
    make_app(admin, publisher, "kembar")
    with pytest.raises(Conflict):
        make_app(admin, publisher, "kembar")


def test_same_idempotency_key_returns_the_first_result(admin: Client, publisher: Publisher) -> None:
    key = str(uuid.uuid4())
    first = admin.apps.create(
        publisher=publisher.code, slug="sekali", name="Sekali", idempotency_key=key
    )
    again = admin.apps.create(
        publisher=publisher.code, slug="sekali", name="Sekali", idempotency_key=key
    )
    assert again.id == first.id


def test_releases(admin: Client, publisher: Publisher) -> None:
    app = make_app(admin, publisher, "rilis")
    with pytest.raises(NotFound):
        admin.releases.latest(app)
    r1 = admin.releases.create(app, version="1.0.0", released_at="2025-01-01T00:00:00+07:00")
    r2 = admin.releases.create(app.ref, version="1.1.0", notes="Perbaikan")
    assert r1.app_id == app.id
    assert admin.releases.latest(app).version == "1.1.0"
    assert admin.releases.get(app, "1.0.0").id == r1.id
    assert admin.releases.get(app, r2.id).notes == "Perbaikan"
    assert [r.version for r in admin.releases.list(app)] == ["1.0.0", "1.1.0"]

    changed = admin.releases.update(r2, notes="Perbaikan keamanan")
    assert changed.notes == "Perbaikan keamanan"
    with pytest.raises(PreconditionFailed):
        admin.releases.update(r2, notes="stale")
    with pytest.raises(Conflict):
        admin.releases.create(app, version="1.0.0")
    admin.releases.delete(changed)
    with pytest.raises(NotFound):
        admin.releases.get(app, r2.id)
    with pytest.raises(ValueError, match="app="):
        admin.releases.delete(r1.id)
    admin.releases.delete("1.0.0", app=app)
    assert admin.releases.list(app).all() == []


def test_datasets_and_distributions(admin: Client, publisher: Publisher) -> None:
    dataset = admin.datasets.create(
        publisher=publisher.code,
        slug="jumlah-penduduk",
        title={"id": "Jumlah Penduduk", "en": "Population"},
        themes=["SOCI"],
        temporal={"start": "2020-01-01", "end": "2024-12-31"},
        spatial={"region_code": "13.77"},
        visibility="public",
    )
    assert dataset.title["en"] == "Population"
    assert dataset.temporal is not None
    assert dataset.temporal.end is not None
    assert admin.datasets.get(dataset.ref).id == dataset.id
    assert [d.slug for d in admin.datasets.list(publisher=publisher.code, theme="SOCI")] == [
        "jumlah-penduduk"
    ]

    dist = admin.distributions.create(
        dataset, access_url="https://data.example.go.id/penduduk.csv", format="CSV"
    )
    assert dist.dataset_id == dataset.id
    assert admin.distributions.get(dataset, dist.id).format == "CSV"
    dist = admin.distributions.update(dist, byte_size=1024)
    assert [d.byte_size for d in admin.distributions.list(dataset.ref)] == [1024]
    admin.distributions.delete(dist)
    assert admin.distributions.list(dataset).all() == []

    dataset = admin.datasets.update(dataset, keywords=["penduduk"])
    assert dataset.keywords == ["penduduk"]
    admin.datasets.delete(dataset)
    with pytest.raises(NotFound):
        admin.datasets.get(dataset.id)


def test_publishers(admin: Client, publisher: Publisher) -> None:
    assert admin.publishers.get(publisher.code).id == publisher.id
    assert admin.publishers.get(publisher).code == publisher.code
    codes = {p.code for p in admin.publishers.list(q=publisher.code)}
    assert publisher.code in codes
    renamed = admin.publishers.update(publisher, website="https://kota-uji.example.go.id")
    assert renamed.website == "https://kota-uji.example.go.id"
    with pytest.raises(PreconditionFailed):
        admin.publishers.update(publisher, name="stale")


def test_wrong_secret_is_unauthorized(node: Node) -> None:
    client = Client(node.url, client_id=node.client_id, client_secret="rahasia-yang-salah")
    with client, pytest.raises(Unauthorized) as caught:
        client.apps.create(slug="x", name="x")
    assert "rahasia-yang-salah" not in str(caught.value)  # never echoed
    # Told apart from sending no credentials: the fix is another secret.
    assert "the client id or secret is wrong" in str(caught.value)


def test_publisher_client_cannot_write_for_another_publisher(
    node: Node, admin: Client, publisher: Publisher, unique: str
) -> None:
    other = admin.publishers.create(code=f"kab-lain-{unique}", name="Kabupaten Lain")
    client_id, secret = node.add_client(publisher.code, "catalog:write")
    with Client(node.url, client_id=client_id, client_secret=secret) as own:
        mine = own.apps.create(slug="milik-sendiri", name="Milik Sendiri")
        assert mine.publisher == publisher.code  # defaults to the caller's publisher
        with pytest.raises(Forbidden):
            own.apps.create(publisher=other.code, slug="bukan-milik", name="Bukan")
        with pytest.raises(Forbidden):
            own.publishers.create(code=f"baru-{unique}", name="Baru")


def test_racing_threads_fetch_one_token(node: Node, publisher: Publisher) -> None:
    errors: list[BaseException] = []
    with node.admin() as client:
        barrier = threading.Barrier(12)

        def work(i: int) -> None:
            try:
                barrier.wait()
                make_app(client, publisher, f"paralel-{i}")
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert client._tokens is not None
        assert client._tokens.fetches == 1
    with node.admin() as fresh:
        assert len(fresh.apps.list(publisher=publisher.code).all()) == 12


def test_revoked_token_is_replaced_once(node: Node, publisher: Publisher) -> None:
    with node.admin() as client:
        token = client.token()
        assert token
        revoked = httpx2.post(
            node.url + "/oauth/revoke",
            data={"token": token},
            auth=(node.client_id, node.client_secret),
        )
        assert revoked.status_code == 200
        make_app(client, publisher, "setelah-cabut")
        assert client._tokens is not None
        assert client._tokens.fetches == 2
        assert client.token() != token


def test_secrets_stay_out_of_reprs_and_logs(
    node: Node, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with node.admin() as client:
        make_app(client, publisher, "rahasia-log")
        token = client.token()
        assert token
        for text in (repr(client), str(client), repr(client._tokens)):
            assert node.client_secret not in text
            assert token not in text
    assert node.client_secret not in caplog.text
    assert token not in caplog.text


def test_context_manager_closes_connections(node: Node) -> None:
    client = Client(node.url)
    with client:
        client.apps.list().first_page()
    assert client._http.is_closed


def test_search_finds_apps_and_datasets(node: Node, admin: Client, publisher: Publisher) -> None:
    paths = admin._transport.http.get(node.url + "/openapi.json").json()["paths"]
    if "/api/v1/search" not in paths:
        pytest.skip("the node does not serve /api/v1/search yet")
    app = make_app(admin, publisher, "bank-sampah")
    dataset = admin.datasets.create(
        publisher=publisher.code, slug="sampah", title={"id": "Sampah"}, visibility="public"
    )
    hits = {hit.id: hit for hit in admin.search("sampah", publisher=publisher.code)}
    assert set(hits) == {app.id, dataset.id}
    assert hits[app.id].kind == "app"
    assert hits[app.id].ref == app.ref
    assert admin.apps.get(hits[app.id].ref).id == app.id
    first = admin.search("sampah", publisher=publisher.code, limit=1).first_page()
    assert len(first.items) == 1
    assert first.total == 2
    assert first.total_exact
    assert first.facets_exact
    assert first.facets["kind"] == {"app": 1, "dataset": 1}
    only_apps = admin.search("sampah", kind="app", publisher=publisher.code).all()
    assert [h.id for h in only_apps] == [app.id]

"""The catalog pages: what they show, to whom, in which language, and how errors
reach people and programs."""

from __future__ import annotations

import re
import uuid
from datetime import date

import httpx2
import pytest
from sqlmodel import col, select

from registry import viewcache
from registry.catalog import schemas, service
from registry.catalog.models import App
from registry.sharing import schemas as sharing_schemas
from registry.sharing import service as sharing
from registry.web import i18n, render
from registry.web import service as web_service
from tests.conftest import ADMIN

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
EN = {**HTML, "Accept-Language": "en-US,en;q=0.9"}
ID = {**HTML, "Accept-Language": "id-ID,id;q=0.9,en;q=0.8"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Each test's rows are rolled back, and the counter with them: a cached view
    # from one test must not be served to the next (the read cache, which keeps
    # pages, is cleared by the app fixture).
    web_service.facet_cache.clear()


@pytest.fixture
def catalog(session, make_publisher, make_app, make_dataset):
    banyuwangi = make_publisher("kab-banyuwangi", name="Kabupaten Banyuwangi", kind="regency")
    pariaman = make_publisher("kota-pariaman", name="Kota Pariaman", kind="city")
    kampung = make_app(
        banyuwangi,
        "smart-kampung",
        name="Smart Kampung",
        categories=["village-services"],
        spbe_class="khusus",
        license="EUPL-1.2",
        description={
            "id": {"short_description": "Layanan administrasi desa terpadu", "features": ["Surat"]},
            "en": {
                "short_description": "Integrated village administration",
                "features": ["Letters"],
            },
        },
        maintenance={
            "type": "internal",
            "contacts": [{"name": "Tim Kampung", "email": "t@x.example"}],
        },
    )
    make_app(
        banyuwangi,
        "arsip-rahasia",
        name="Arsip Rahasia",
        visibility="private",
        categories=["secret-category"],
    )
    make_app(pariaman, "pajak-mitra", name="Pajak Mitra", visibility="partners")
    release = service.create_release(
        session,
        ADMIN,
        kampung,
        schemas.ReleaseCreate(
            version="2.3.0",
            artifacts=[
                {
                    "name": "smart-kampung-2.3.0.tar.gz",
                    "url": "https://git.example/smart-kampung-2.3.0.tar.gz",
                    "sha256": "da69f70126dec0ae8c0f20094bb121cb64aeb82e120c750b1f62382aebb1d40e",
                    "size": 18432771,
                    "media_type": "application/gzip",
                }
            ],
        ),
    )
    sharing.create_adoption(
        session,
        ADMIN,
        sharing_schemas.AdoptionCreate(
            app_id=kampung.id,
            publisher="kota-pariaman",
            status="production",
            started_on=date(2025, 3, 1),
        ),
    )
    make_dataset(
        pariaman,
        "tempat-evakuasi",
        title={"id": "Tempat evakuasi sementara", "en": "Temporary shelters"},
        themes=["SOCI"],
        temporal={"start": "2020-01-01", "end": "2025-06-30"},
        update_frequency="ANNUAL",
    )
    session.commit()
    return {"app": kampung, "release": release, "banyuwangi": banyuwangi, "pariaman": pariaman}


def text(response: httpx2.Response) -> str:
    """The page's visible text, roughly: tags dropped, whitespace squeezed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.text, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# --- home and search ---------------------------------------------------------------


async def test_home_shows_public_items_and_counts_only(client, catalog):
    response = await client.get("/", headers=EN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = text(response)
    assert "Smart Kampung" in page
    assert "Temporary shelters" in page
    assert "Arsip Rahasia" not in page
    assert "Pajak Mitra" not in page
    # Counts and facets leave out what an anonymous reader may not see.
    assert "1 app" in page
    assert "1 apps" not in page
    assert "Secret category" not in page
    assert "Kota Pariaman" in page  # the most adopted app's adopter count
    assert "Used by 1 publisher" in page


async def test_home_counts_follow_a_change_at_once(client, session, catalog):
    assert "1 app " in text(await client.get("/", headers=EN))
    # The count is cached per catalog version; a visibility change is a new version.
    app = catalog["app"]
    service.update_app(session, ADMIN, app, schemas.AppUpdate(visibility="private"))
    session.commit()
    page = text(await client.get("/", headers=EN))
    assert "Smart Kampung" not in page
    assert "0 apps" in page


async def test_search_page_ranks_highlights_and_narrows(client, catalog):
    response = await client.get("/search", params={"q": "village"}, headers=EN)
    assert response.status_code == 200
    assert "<mark>village</mark>" in response.text.lower()
    assert "Arsip Rahasia" not in response.text
    # Facet links narrow the query they came from.
    assert 'href="/search?q=village&amp;category=village-services&amp;kind=app"' in response.text
    narrowed = await client.get(
        "/search",
        params={"q": "village", "category": "village-services", "kind": "app"},
        headers=EN,
    )
    assert "Smart Kampung" in text(narrowed)
    assert "Remove filter: App" in narrowed.text


async def test_search_page_narrows_by_every_facet(client, session, catalog):
    """Format, licence, development status and SPBE class are facets as category and
    theme are: counted over what the reader may see, each a link that narrows."""
    from sqlmodel import select

    from registry.catalog.models import Dataset

    dataset = session.exec(select(Dataset)).first()
    service.create_distribution(
        session,
        ADMIN,
        dataset,
        schemas.DistributionCreate(access_url="https://data.example/s.csv", format="CSV"),
    )
    service.update_app(session, ADMIN, catalog["app"], schemas.AppUpdate(development_status="beta"))
    session.commit()
    response = await client.get("/search", headers=EN)
    facets = response.text[response.text.index('id="narrow-title"') :]
    for heading in ("Format", "Licence", "Development status", "SPBE class"):
        assert f"<h3>{heading}</h3>" in facets
    assert 'href="/search?format=CSV&amp;kind=dataset"' in facets
    assert 'href="/search?license=EUPL-1.2"' in facets
    assert 'href="/search?spbe_class=khusus&amp;kind=app"' in facets
    assert 'href="/search?development_status=beta&amp;kind=app"' in facets
    assert "Special application (aplikasi khusus)" in text(response)

    narrowed = await client.get(
        "/search", params={"spbe_class": "khusus", "kind": "app"}, headers=EN
    )
    assert "Smart Kampung" in text(narrowed)
    assert "Temporary shelters" not in text(narrowed)
    assert "Remove filter: Special application (aplikasi khusus)" in narrowed.text
    by_format = text(await client.get("/search", params={"format": "CSV"}, headers=EN))
    assert "Temporary shelters" in by_format
    assert "Smart Kampung" not in by_format
    assert "1 result" in by_format
    # A licence nobody uses narrows to nothing rather than failing.
    none = text(await client.get("/search", params={"license": "MIT"}, headers=EN))
    assert "0 results" in none


async def test_search_page_enhances_itself_with_a_script_of_the_node(client, catalog):
    response = await client.get("/search", params={"q": "desa", "kind": "app"}, headers=EN)
    match = re.search(r'<script src="(/static/search\.js\?v=\w+)" defer></script>', response.text)
    assert match
    # The node's policy lets a page run scripts of the node only, and fetch from it.
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    # A new search keeps the chosen filters, with or without the script.
    assert '<input type="hidden" name="kind" value="app">' in response.text
    assert 'id="results"' in response.text
    assert 'id="results-status" role="status"' in response.text
    script = await client.get(match.group(1))
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "history.replaceState" in script.text
    # Other pages do without it.
    assert "<script" not in (await client.get("/", headers=EN)).text


@pytest.mark.parametrize(
    ("name", "longest"), [("q", 200), ("publisher", 64), ("license", 255), ("cursor", 64)]
)
async def test_search_page_refuses_an_overlong_parameter_by_name(client, catalog, name, longest):
    fits = await client.get("/search", params={name: "a" * longest}, headers=EN)
    assert fits.status_code in (200, 422)  # a cursor of the right length may still be bad
    if name != "cursor":
        assert fits.status_code == 200
    page = await client.get("/search", params={name: "a" * (longest + 1)}, headers=EN)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    problem = await client.get("/search", params={name: "a" * (longest + 1)})
    assert problem.status_code == 422
    assert problem.json()["errors"][0]["loc"] == ["query", name]


async def test_search_page_does_not_reveal_private_items(client, catalog):
    response = await client.get("/search", params={"q": "rahasia"}, headers=EN)
    assert "Arsip Rahasia" not in response.text
    assert "0 results" in text(response)
    assert "secret-category" not in response.text


async def test_search_page_escapes_the_query(client, catalog):
    response = await client.get("/search", params={"q": "<script>x</script>"}, headers=EN)
    assert response.status_code == 200
    assert "<script>x" not in response.text
    assert "&lt;script&gt;x" in response.text


async def test_search_page_tells_local_from_partner_items(client, session, catalog):
    mirror = service.create_app(
        session,
        ADMIN,
        schemas.AppCreate(
            publisher="kota-pariaman", slug="dari-mitra", name="Dari Mitra", visibility="public"
        ),
    )
    mirror.origin = "https://peer.example"
    session.commit()
    page = text(await client.get("/search", params={"q": "mitra"}, headers=EN))
    assert "From https://peer.example" in page


# --- item pages --------------------------------------------------------------------


async def test_app_page_shows_releases_users_and_how_to_get_it(client, catalog):
    app = catalog["app"]
    response = await client.get(f"/apps/{app.id}", headers=EN)
    assert response.status_code == 200
    page = text(response)
    assert "Integrated village administration" in page
    assert "da69f70126dec0ae8c0f20094bb121cb64aeb82e120c750b1f62382aebb1d40e" in page
    assert "18.4 MB" in page
    assert (
        "lumbung-client --url http://testserver pull kab-banyuwangi/smart-kampung --version 2.3.0"
        in page
    )
    assert "Kota Pariaman" in page
    assert "In production" in page
    assert "since 1 Mar 2025" in page
    assert "Special application (aplikasi khusus)" in page
    assert "EUPL-1.2" in page
    assert "Tim Kampung" in page
    assert f'href="/api/v1/apps/{app.id}"' in response.text


async def test_app_page_in_indonesian(client, catalog):
    response = await client.get(f"/apps/{catalog['app'].id}", headers=ID)
    page = text(response)
    assert '<html lang="id">' in response.text
    assert "Layanan administrasi desa terpadu" in page
    assert "Cara mendapatkannya" in page
    assert "Dipakai oleh" in page
    assert "18,4 MB" in page  # a decimal comma
    assert "1 Mar 2025" in page


async def test_item_text_falls_back_to_the_language_it_has(client, session, catalog):
    only_id = service.create_app(
        session,
        ADMIN,
        schemas.AppCreate(
            publisher="kab-banyuwangi",
            slug="hanya-id",
            name="Hanya ID",
            visibility="public",
            description={"id": {"short_description": "Hanya dalam bahasa Indonesia"}},
        ),
    )
    session.commit()
    response = await client.get(f"/apps/{only_id.id}", headers=EN)
    assert '<p class="lead" lang="id">Hanya dalam bahasa Indonesia</p>' in response.text


@pytest.mark.parametrize("slug", ["arsip-rahasia", "pajak-mitra"])
async def test_restricted_app_page_is_not_found_for_an_anonymous_reader(
    client, session, catalog, slug
):
    from sqlmodel import select

    from registry.catalog.models import App

    app = session.exec(select(App).where(App.slug == slug)).one()
    response = await client.get(f"/apps/{app.id}", headers=EN)
    assert response.status_code == 404
    assert "We could not find that page" in response.text
    assert app.name not in response.text


async def test_dataset_page(client, session, catalog):
    from sqlmodel import select

    from registry.catalog.models import Dataset

    dataset = session.exec(select(Dataset)).first()
    service.create_distribution(
        session,
        ADMIN,
        dataset,
        schemas.DistributionCreate(
            title="Shelters (CSV)",
            access_url="https://data.example/s.csv",
            download_url="https://data.example/s.csv",
            format="CSV",
            byte_size=48211,
        ),
    )
    session.commit()
    page = text(await client.get(f"/datasets/{dataset.id}", headers=EN))
    assert "Temporary shelters" in page
    assert "Shelters (CSV)" in page
    assert "CSV" in page
    assert "48.2 KB" in page
    assert "Population and society" in page
    assert "1 Jan 2020 – 30 Jun 2025" in page
    assert "Yearly" in page


async def test_publisher_page_lists_visible_items_and_partners(client, catalog):
    page = text(await client.get("/publishers/kab-banyuwangi", headers=EN))
    assert "Kabupaten Banyuwangi" in page
    assert "Regency" in page
    assert "Smart Kampung" in page
    assert "Arsip Rahasia" not in page
    assert "No partnerships in force." in page


def test_publisher_page_shows_the_first_items_by_name_and_counts_only_visible_ones(
    session, make_publisher, make_app
):
    city = make_publisher("kota-besar", name="Kota Besar")
    names = [f"Layanan {n:03d}" for n in range(web_service.PUBLISHER_ITEMS + 5)]
    for n, name in enumerate(reversed(names)):
        make_app(city, f"layanan-{n}", name=name.lower() if n % 2 else name)
    for n in range(3):
        make_app(city, f"rahasia-{n}", name=f"Aaa Rahasia {n}", visibility="private")
    page = web_service.publisher_page(session, None, "kota-besar")
    assert page.app_count == len(names)
    # By name whatever its case, hidden items neither shown nor counted.
    assert [app.name.lower() for app in page.apps] == [
        name.lower() for name in names[: web_service.PUBLISHER_ITEMS]
    ]
    admin = web_service.publisher_page(session, ADMIN, "kota-besar")
    assert admin.app_count == len(names) + 3
    assert [app.name for app in admin.apps[:3]] == [f"Aaa Rahasia {n}" for n in range(3)]


async def test_node_page_links_machine_readable_documents(client, catalog):
    response = await client.get("/node", headers=EN)
    assert response.status_code == 200
    for href in ("/docs", "/openapi.json", "/.well-known/lumbung-node", "/.well-known/jwks.json"):
        assert f'href="{href}"' in response.text
    assert "Kabupaten Banyuwangi" in text(response)


async def test_pages_stay_small(client, catalog):
    app = catalog["app"]
    for path in ("/", "/search?q=a", f"/apps/{app.id}", "/node", "/publishers/kab-banyuwangi"):
        response = await client.get(path, headers=EN)
        assert len(response.content) < 100_000, path
    css = await client.get("/static/style.css")
    assert css.status_code == 200
    assert "immutable" in css.headers["cache-control"]


# --- languages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("id-ID,id;q=0.9", "id"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("fr-FR,en;q=0.5,id;q=0.8", "id"),
        ("de-DE", "id"),
        ("", "id"),
        ("in", "id"),
        ("en;q=0, id;q=0.1", "id"),
    ],
)
async def test_language_from_accept_language(client, catalog, accept_language, expected):
    response = await client.get("/", headers={**HTML, "Accept-Language": accept_language})
    assert f'<html lang="{expected}">' in response.text
    assert response.headers["content-language"] == expected
    assert "Accept-Language" in response.headers["vary"]


async def test_language_switch_is_remembered(client, catalog):
    response = await client.get("/lang/en", params={"next": "/node"}, headers=ID)
    assert response.status_code == 303
    assert response.headers["location"] == "/node"
    assert "lang=en" in response.headers["set-cookie"]
    client.cookies.set("lang", "en")
    again = await client.get("/node", headers=ID)  # the browser still prefers Indonesian
    assert '<html lang="en">' in again.text
    client.cookies.clear()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
async def test_language_switch_never_leaves_the_node(client, target):
    response = await client.get("/lang/id", params={"next": target})
    assert response.headers["location"] == "/"


async def test_every_page_label_is_translated():
    """Every text the templates mark for translation has an Indonesian translation,
    so no page mixes languages."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from registry.web import i18n

    root = Path(i18n.__file__).parent
    method_map = [("templates/**.html", "jinja2")]
    options = {
        "templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        }
    }
    messages = {m[2] for m in extract_from_dir(str(root), method_map, options)}
    assert len(messages) > 100
    with (root / "locale/id/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po, locale="id")

    def translated(string: object) -> bool:
        # A plural message holds one string per form; each must be there.
        return all(string) if isinstance(string, tuple) else bool(string)

    untranslated = sorted(
        str(m) for m in messages if m not in catalog or not translated(catalog[m].string)
    )
    assert untranslated == []


# --- errors: pages for people, problem+json for programs ---------------------------


async def test_unknown_page_is_a_friendly_404_for_browsers(client):
    response = await client.get("/no-such-page", headers=ID)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Halaman tidak ditemukan" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/apps/not-an-id",
        "/apps/12345",
        "/apps/00000000-0000-0000-0000-00000000000g",
        "/apps/00000000-0000-0000-0000-000000000000",
        "/apps/00000000-0000-0000-0000-000000000000/extra",
        "/datasets/not-an-id",
        "/datasets/0.5",
        "/datasets/00000000-0000-0000-0000-000000000000",
        "/publishers/no-such-publisher",
        "/publishers/" + "x" * 300,
        "/lang/fr",
        "/static/nothing.css",
        "/static/..%2Fservice.py",
    ],
)
async def test_a_bad_id_in_a_page_address_is_the_404_page(client, catalog, path):
    for headers in (EN, ID):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        expected = "We could not find that page" if headers is EN else "Halaman tidak ditemukan"
        assert expected in response.text
    response = await client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/publishers/%00", "/search?q=a%00b"])
async def test_a_nul_in_a_page_address_is_an_error_page_for_browsers(client, catalog, path):
    # Refused before any route runs (PostgreSQL cannot hold a NUL), yet a browser still
    # gets a page in the catalog's look, and a program problem+json.
    response = await client.get(path, headers=EN)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "\x00" not in response.text
    response = await client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/no-such-page", "*/*"),
        ("/no-such-page", "application/json"),
        ("/api/v1/apps/00000000-0000-0000-0000-000000000000", HTML["Accept"]),
        ("/api/v1/nothing-here", HTML["Accept"]),
    ],
)
async def test_programs_still_get_problem_json(client, path, accept):
    response = await client.get(path, headers={"Accept": accept})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_a_server_error_is_a_page_for_browsers_and_json_for_programs(
    app, monkeypatch, catalog
):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(web_service, "node_page", broken)
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as c:
        page = await c.get("/node", headers=EN)
        assert page.status_code == 500
        assert "Something went wrong on this node" in page.text
        assert "boom" not in page.text
        problem = await c.get("/node")
        assert problem.status_code == 500
        assert problem.headers["content-type"] == "application/problem+json"


# --- helpers -----------------------------------------------------------------------


def test_highlight_marks_words_and_escapes_the_rest():
    from registry.web.render import highlight

    marked = str(highlight("Layanan <b>desa</b> terpadu untuk Desa", "desa"))
    assert marked == "Layanan &lt;b&gt;<mark>desa</mark>&lt;/b&gt; terpadu untuk <mark>Desa</mark>"


def test_sizes_and_numbers_per_language():
    from registry.web.i18n import Formats

    assert Formats("en").size(18432771) == "18.4 MB"
    assert Formats("id").size(18432771) == "18,4 MB"
    assert Formats("id").number(100000) == "100.000"
    assert Formats("en").number(100000) == "100,000"
    assert Formats("id").date(date(2025, 3, 12)) == "12 Mar 2025"


async def test_a_cached_page_is_not_served_after_the_item_is_hidden(client, session, catalog):
    app = catalog["app"]
    assert (await client.get(f"/apps/{app.id}", headers=EN)).status_code == 200
    assert (await client.get(f"/apps/{app.id}", headers=EN)).status_code == 200  # from the cache
    service.update_app(session, ADMIN, app, schemas.AppUpdate(visibility="partners"))
    session.commit()
    assert (await client.get(f"/apps/{app.id}", headers=EN)).status_code == 404


async def test_cached_pages_keep_their_language(client, catalog):
    english = await client.get("/", headers=EN)
    indonesian = await client.get("/", headers=ID)
    assert '<html lang="en">' in english.text
    assert '<html lang="id">' in indonesian.text
    assert indonesian.headers["content-language"] == "id"
    assert int(indonesian.headers["content-length"]) == len(indonesian.content)


async def test_pages_answer_head(client, catalog):
    response = await client.head("/", headers=EN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_pages_of_a_file_database_are_built_over_kept_connections(tmp_path):
    """A file SQLite node keeps its connections in a pool, which pages are built over,
    and a page rebuilt over a kept connection sees every commit."""
    from sqlalchemy.orm import Session as OrmSession
    from sqlalchemy.pool import QueuePool

    from registry import migrate
    from registry.app import create_app
    from registry.catalog.models import Publisher, PublisherKind
    from registry.db import create_db_engine, take_change_seqs
    from registry.settings import load_settings

    settings = load_settings(data_dir=tmp_path, database_url=None)
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    node = create_app(settings, engine=engine)
    try:
        transport = httpx2.ASGITransport(app=node)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as c:
            assert "Kota Baru" not in text(await c.get("/node", headers=EN))
            # Opening a file database anew costs more than building an app page.
            assert isinstance(engine.pool, QueuePool)
            with OrmSession(engine) as other, other.begin():
                (seq,) = take_change_seqs(other, 1)
                other.add(
                    Publisher(
                        code="kota-baru", name="Kota Baru", kind=PublisherKind.city, change_seq=seq
                    )
                )
            assert "Kota Baru" in text(await c.get("/node", headers=EN))
    finally:
        viewcache.close_versions(node.state)
        engine.dispose()


async def test_readers_of_a_page_being_built_share_one_build(client, catalog, monkeypatch):
    import asyncio
    import time

    builds = []
    real = web_service.node_page

    def slow(session):
        builds.append(1)
        time.sleep(0.2)
        return real(session)

    monkeypatch.setattr(web_service, "node_page", slow)
    responses = await asyncio.gather(*(client.get("/node", headers=EN) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    assert len({r.text for r in responses}) == 1
    assert len(builds) == 1


async def test_home_counts_are_exact_when_the_search_samples(client, session, catalog, monkeypatch):
    from registry.search import service as search

    # A catalog "large" enough that the search service estimates its facets from a
    # sample, and a sample that holds no item at all (docids below 2**22, of 2**62):
    # the sampled facets miss both kinds, as a large catalog's sample can miss one.
    monkeypatch.setattr(search, "FIRST_SAMPLE", 2**40)
    monkeypatch.setattr(search, "MIN_SAMPLE", 0)
    monkeypatch.setattr(search, "SAMPLE", 0)
    sampled = web_service.search_facets(session, None, search.SearchQuery())
    assert sampled[1] is False
    assert not sampled[0].get("kind", {}).get("dataset")

    page = text(await client.get("/", headers=EN))
    assert "1 app ·" in page
    assert "1 dataset " in page
    assert not re.search(r"About \d", page)
    assert "The numbers below are estimates." in page
    assert "1 aplikasi" in text(await client.get("/", headers=ID))
    # A search without words over a sampled catalog answers too (all its facets are
    # estimated; the page says so).
    listed = await client.get("/search", params={"kind": "app"}, headers=EN)
    assert listed.status_code == 200


def test_search_snippets_keep_only_marks():
    from registry.web.render import snippet

    html = "Layanan <mark>desa</mark> &lt;b&gt; <img src=x onerror=alert(1)><script>x</script>"
    assert str(snippet(html)) == "Layanan <mark>desa</mark> &lt;b&gt; x"


@pytest.mark.parametrize("batches", [1, 5])
def test_newest_items_are_those_the_reader_may_see(
    session, catalog, make_app, monkeypatch, batches
):
    # Newest first: three private apps after the public one. With one batch of one
    # row, the newest rows hold nothing visible and the database filters instead.
    for n in range(3):
        make_app(catalog["banyuwangi"], f"rahasia-{n}", visibility="private")
    monkeypatch.setattr(web_service, "NEWEST_BATCH", 1)
    monkeypatch.setattr(web_service, "NEWEST_BATCHES", batches)
    from registry.catalog.models import App

    found = web_service.newest(session, None, App, 2)
    assert [app.slug for app in found] == ["smart-kampung"]
    admin = web_service.newest(session, ADMIN, App, 2)
    assert [app.slug for app in admin] == ["rahasia-2", "rahasia-1"]


async def test_item_pages_link_their_machine_readable_documents(client, session, catalog):
    from sqlmodel import select

    from registry.catalog.models import Dataset

    app = catalog["app"]
    dataset = session.exec(select(Dataset)).first()
    pages = {
        f"/apps/{app.id}": [f"/api/v1/apps/{app.id}", f"/api/v1/apps/{app.id}/publiccode.yml"],
        f"/datasets/{dataset.id}": [
            f"/api/v1/datasets/{dataset.id}",
            f"/api/v1/datasets/{dataset.id}.jsonld",
            f"/api/v1/datasets/{dataset.id}.ttl",
        ],
        "/node": ["/catalog.jsonld", "/catalog.ttl", "/.well-known/lumbung-node"],
    }
    for page, links in pages.items():
        html = (await client.get(page, headers=EN)).text
        for link in links:
            assert f'href="{link}"' in html, (page, link)
            assert (await client.get(link)).status_code == 200, link


def test_facet_keys_name_local_and_mirrored_publishers(session, catalog, make_publisher):
    mirrored = make_publisher("kota-pariaman-mirror", name="Kota Pariaman (mitra)")
    mirrored.code = "kota-pariaman"
    mirrored.origin = "https://peer.example"
    session.commit()
    found = web_service.publishers_by_code(
        session, ["kota-pariaman", "kota-pariaman@https://peer.example", "nobody"]
    )
    assert found["kota-pariaman"].name == "Kota Pariaman"
    assert found["kota-pariaman@https://peer.example"].name == "Kota Pariaman (mitra)"
    assert "nobody" not in found


# --- pages answered before routing (registry.web.cache) -------------------------------


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """The pages really built (not given from the read cache), by template."""
    from registry.web import errors, render, router

    built: list[str] = []
    real = render.render

    def counted(request, template, **context):
        built.append(template)
        return real(request, template, **context)

    monkeypatch.setattr(router, "render", counted)
    monkeypatch.setattr(errors, "render", counted)
    return built


def own_headers(response: httpx2.Response) -> dict[str, str]:
    """A page's headers but those of the moment it was sent."""
    return {k: v for k, v in response.headers.items() if k not in ("date", "x-request-id")}


async def test_an_unchanged_page_is_sent_without_routing(client, app, catalog, builds):
    path = f"/apps/{catalog['app'].id}"
    first = await client.get(path, headers=EN)
    again = await client.get(path, headers=EN)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert builds == ["app.html"]
    # From the cache, a page carries exactly the headers the route gives it.
    kept, app.state.api_cache = app.state.api_cache, None
    try:
        routed = await client.get(path, headers=EN)
    finally:
        app.state.api_cache = kept
    assert builds == ["app.html", "app.html"]
    assert routed.content == again.content
    assert own_headers(again) == own_headers(routed) == own_headers(first)
    for name in ("content-type", "content-language", "vary", "cache-control"):
        assert name in routed.headers, name
    assert "content-security-policy" in routed.headers
    assert "x-content-type-options" in routed.headers


async def test_the_same_address_in_each_language_is_its_own_page(client, catalog, builds):
    for _ in range(2):
        indonesian = await client.get("/node", headers=ID)
        english = await client.get("/node", headers=EN)
        assert '<html lang="id">' in indonesian.text
        assert indonesian.headers["content-language"] == "id"
        assert '<html lang="en">' in english.text
        assert english.headers["content-language"] == "en"
    assert builds == ["node.html", "node.html"]
    # A region tag counts for its language: the page kept for ``en`` serves ``en-GB``.
    british = await client.get("/node", headers={**HTML, "Accept-Language": "en-GB"})
    assert '<html lang="en">' in british.text
    assert builds == ["node.html", "node.html"]


async def test_a_page_is_kept_once_for_every_browser_that_asks_for_html(client, catalog, builds):
    firefox = {**EN, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    chromium = {**EN, "Accept": "text/html,application/xhtml+xml,image/avif,*/*;q=0.8"}
    assert (await client.get("/node", headers=firefox)).status_code == 200
    assert (await client.get("/node", headers=chromium)).status_code == 200
    assert builds == ["node.html"]
    # A program that prefers JSON is another reader: never given the kept answer.
    await client.get("/node", headers={**EN, "Accept": "application/json"})
    assert builds == ["node.html", "node.html"]


async def test_the_remembered_language_wins_over_a_kept_page(client, catalog):
    assert '<html lang="id">' in (await client.get("/", headers=ID)).text
    assert '<html lang="en">' in (await client.get("/", headers=EN)).text
    client.cookies.set("lang", "en")
    try:
        assert '<html lang="en">' in (await client.get("/", headers=ID)).text
        client.cookies.set("lang", "id")
        chosen = await client.get("/", headers=EN)
        assert '<html lang="id">' in chosen.text
        assert chosen.headers["content-language"] == "id"
        # A cookie the pages do not read changes nothing; an unknown language is no choice.
        client.cookies.clear()
        client.cookies.set("other", "x")
        assert '<html lang="en">' in (await client.get("/", headers=EN)).text
        client.cookies.set("lang", "fr")
        assert '<html lang="id">' in (await client.get("/", headers=ID)).text
    finally:
        client.cookies.clear()


async def test_the_next_anonymous_page_after_a_write_shows_it(client, session, catalog):
    app = catalog["app"]
    path = f"/apps/{app.id}"
    assert "Smart Kampung" in text(await client.get(path, headers=EN))
    assert "Smart Kampung" in text(await client.get("/search?q=kampung", headers=EN))
    service.update_app(session, ADMIN, app, schemas.AppUpdate(name="Kampung Pintar"))
    session.commit()
    assert "Kampung Pintar" in text(await client.get(path, headers=EN))
    assert "Kampung Pintar" in text(await client.get("/search?q=kampung", headers=EN))


async def test_kept_pages_never_show_a_private_or_partners_app(client, session, catalog):
    hidden = session.exec(
        select(App).where(col(App.slug).in_(["arsip-rahasia", "pajak-mitra"]))
    ).all()
    assert len(hidden) == 2
    paths = ["/", "/search", "/search?q=arsip", "/search?q=pajak", "/node"]
    paths += ["/publishers/kab-banyuwangi", "/publishers/kota-pariaman"]
    for _ in range(2):
        for path in paths:
            page = text(await client.get(path, headers=EN))
            assert "Arsip Rahasia" not in page, path
            assert "Pajak Mitra" not in page, path
        for item in hidden:
            assert (await client.get(f"/apps/{item.id}", headers=EN)).status_code == 404


async def test_a_reader_with_a_token_never_gets_the_kept_page(client, app, catalog, builds):
    from registry.web.router import page_principal

    anonymous = await client.get("/", headers=EN)
    assert "Arsip Rahasia" not in text(anonymous)
    bearer = {**EN, "Authorization": "Bearer some-token"}
    # Pages do not read tokens yet: the reader gets the anonymous view, built for them.
    assert (await client.get("/", headers=bearer)).content == anonymous.content
    assert builds == ["home.html", "home.html"]
    # Were pages to tell readers apart by their token, each would get their own page,
    # and theirs would never be kept for anyone else.
    app.dependency_overrides[page_principal] = lambda: ADMIN
    try:
        own = await client.get("/", headers=bearer)
        assert "Arsip Rahasia" in text(own)
        assert "Arsip Rahasia" in text(await client.get("/", headers=bearer))
    finally:
        del app.dependency_overrides[page_principal]
    assert builds == ["home.html"] * 4
    assert (await client.get("/", headers=EN)).content == anonymous.content
    assert builds == ["home.html"] * 4


async def test_the_language_switch_and_error_pages_are_never_kept(client, catalog, builds):
    for _ in range(2):
        switch = await client.get("/lang/en", params={"next": "/"}, headers=ID)
        assert switch.status_code == 303
        assert "lang=en" in switch.headers["set-cookie"]
        missing = await client.get(f"/apps/{uuid.uuid4()}", headers=EN)
        assert missing.status_code == 404
    assert builds.count("error.html") == 2


@pytest.mark.parametrize(
    ("path", "taken"),
    [
        ("/", True),
        ("/search", True),
        ("/node", True),
        ("/apps/x", True),
        ("/publishers/kota-pariaman", True),
        ("/lang/en", False),
        ("/static/style.css", False),
        ("/api/v1/apps", False),
        ("/apps/x/y", False),
        ("/catalog", False),
    ],
)
def test_the_read_cache_takes_only_page_addresses(path, taken):
    from registry.web.cache import page_key

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    assert (page_key(scope) is not None) is taken


def test_every_template_is_compiled_before_the_first_page():
    render.environment.cache_clear()  # environments as a new process has them
    render.compile_templates()
    for language in i18n.LANGUAGES:
        env = render.environment(language)
        compiled = {name for _, name in env.cache} if env.cache is not None else set()
        assert compiled >= set(env.list_templates(extensions=["html"])), language

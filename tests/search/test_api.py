"""Search finds apps and datasets together, honours visibility, pages and counts."""

from __future__ import annotations

import pytest


@pytest.fixture
def catalog(make_publisher, make_app, make_dataset):
    banyuwangi = make_publisher("kab-banyuwangi")
    pariaman = make_publisher("kota-pariaman")
    make_app(banyuwangi, "bank-sampah", name="Bank Sampah", categories=["environment"])
    make_app(pariaman, "sampah-pintar", name="Sampah Pintar", categories=["environment", "iot"])
    make_app(banyuwangi, "sampah-rahasia", name="Sampah Rahasia", visibility="private")
    make_app(banyuwangi, "layanan-desa", name="Layanan Desa")
    make_dataset(pariaman, "timbulan-sampah", title={"id": "Timbulan Sampah"}, themes=["ENVI"])
    return banyuwangi


async def test_search_finds_both_kinds_with_facets(client, catalog):
    response = await client.get("/api/v1/search", params={"q": "sampah"})
    assert response.status_code == 200
    body = response.json()
    assert {(h["kind"], h["slug"]) for h in body["items"]} == {
        ("app", "bank-sampah"),
        ("app", "sampah-pintar"),
        ("dataset", "timbulan-sampah"),
    }
    assert body["total"] == 3
    assert body["facets"]["kind"] == {"app": 2, "dataset": 1}
    assert body["facets"]["publisher"] == {"kab-banyuwangi": 1, "kota-pariaman": 2}
    assert body["facets"]["category"] == {"environment": 2, "iot": 1}
    assert body["facets"]["theme"] == {"ENVI": 1}


async def test_search_honours_visibility(client, catalog, token_for):
    anonymous = await client.get("/api/v1/search", params={"q": "rahasia"})
    assert anonymous.json()["items"] == []
    owner = await client.get(
        "/api/v1/search",
        params={"q": "rahasia"},
        headers=await token_for(catalog, "catalog:write"),
    )
    assert [h["slug"] for h in owner.json()["items"]] == ["sampah-rahasia"]


async def test_search_pages_across_kinds_in_rank_order(client, catalog):
    whole = (await client.get("/api/v1/search", params={"q": "sampah"})).json()
    seen, cursor = [], None
    while True:
        params = {"q": "sampah", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/search", params=params)).json()
        seen += [h["slug"] for h in page["items"]]
        assert page["total"] == 3
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [h["slug"] for h in whole["items"]]
    assert sorted(seen) == ["bank-sampah", "sampah-pintar", "timbulan-sampah"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "dataset"}, {"timbulan-sampah"}),
        ({"category": "iot"}, {"sampah-pintar"}),
        ({"theme": "ENVI"}, {"timbulan-sampah"}),
        ({"publisher": "kab-banyuwangi", "q": "sampah"}, {"bank-sampah"}),
    ],
)
async def test_search_filters(client, catalog, params, expected):
    body = (await client.get("/api/v1/search", params=params)).json()
    assert {h["slug"] for h in body["items"]} == expected


async def test_bad_search_parameters_are_422(client):
    for params in ({"kind": "everything"}, {"cursor": "%%"}, {"limit": 0}):
        response = await client.get("/api/v1/search", params=params)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


async def test_snippets_mark_matches_and_escape_item_text(client, make_publisher, make_app):
    publisher = make_publisher("kota-bandung")
    description = {
        "id": {
            "short_description": 'Izin <script>alert("x")</script> & perizinan daerah',
            "long_description": "Perizinan",
        }
    }
    make_app(publisher, "izin-aman", name="Izin Aman", description=description)
    hit = (await client.get("/api/v1/search", params={"q": "izin"})).json()["items"][0]
    assert hit["snippet"] == (
        "<mark>Izin</mark> &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
        "<mark>perizinan</mark> daerah"
    )


async def test_words_match_in_any_form_prefix_and_typo(client, catalog):
    for q in ("persampahan", "sampa", "smpah"):
        body = (await client.get("/api/v1/search", params={"q": q})).json()
        assert body["total"] == 3, q
    typo = (await client.get("/api/v1/search", params={"q": "smpah"})).json()
    assert typo["did_you_mean"] == "sampah"
    exact = (await client.get("/api/v1/search", params={"q": "sampah"})).json()
    assert exact["did_you_mean"] is None


async def test_json_keys_are_not_text(client, catalog):
    body = (await client.get("/api/v1/search", params={"q": "short_description"})).json()
    assert body["total"] == 0
    listed = (await client.get("/api/v1/apps", params={"q": "short_description"})).json()
    assert listed["items"] == []


async def test_lists_q_finds_what_search_finds(client, catalog):
    apps = (await client.get("/api/v1/apps", params={"q": "persampahan"})).json()
    assert {a["slug"] for a in apps["items"]} == {"bank-sampah", "sampah-pintar"}
    datasets = (await client.get("/api/v1/datasets", params={"q": "sampa"})).json()
    assert [d["slug"] for d in datasets["items"]] == ["timbulan-sampah"]


async def test_facets_narrow_and_hidden_items_are_never_counted(client, catalog):
    everything = (await client.get("/api/v1/search", params={"q": "sampah"})).json()
    assert everything["facets"]["kind"] == {"app": 2, "dataset": 1}
    assert "sampah-rahasia" not in {h["slug"] for h in everything["items"]}
    narrowed = (
        await client.get("/api/v1/search", params={"q": "sampah", "publisher": "kota-pariaman"})
    ).json()
    assert narrowed["total"] == 2
    assert narrowed["facets"]["publisher"] == {"kota-pariaman": 2}
    assert narrowed["facets"]["category"] == {"environment": 1, "iot": 1}

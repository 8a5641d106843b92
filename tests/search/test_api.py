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


async def test_search_pages_across_kinds(client, catalog):
    seen, cursor = [], None
    while True:
        params = {"q": "sampah", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/search", params=params)).json()
        seen += [h["slug"] for h in page["items"]]
        assert page["total"] == 3
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["bank-sampah", "sampah-pintar", "timbulan-sampah"]


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

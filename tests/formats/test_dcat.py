"""DCAT-AP 3 out: the official SHACL shapes accept the catalog and each dataset."""

from __future__ import annotations

import json
import warnings
from functools import cache

import pytest

from registry.catalog import schemas, service
from tests.conftest import ADMIN
from tests.formats.conftest import shared

rdflib = pytest.importorskip("rdflib")
pyshacl = pytest.importorskip("pyshacl")

FULL = {
    "slug": "penduduk-2025",
    "title": {"id": "Jumlah penduduk 2025", "en": "Population 2025"},
    "description": {"id": "Jumlah penduduk per desa.", "en": "Population per village."},
    "keywords": ["penduduk", "desa"],
    "themes": ["SOCI", "REGI"],
    "license": "CC-BY-4.0",
    "access_rights": "PUBLIC",
    "contact": {"name": "Diskominfo", "email": "data@banyuwangi.example",
                "url": "https://banyuwangi.example/kontak"},
    "temporal": {"start": "2025-01-01", "end": "2025-12-31"},
    "spatial": {"region_code": "35.10"},
    "update_frequency": "ANNUAL",
    "landing_page": "https://data.banyuwangi.example/penduduk",
    "visibility": "public",
}  # fmt: skip
DISTRIBUTION = {
    "title": "CSV",
    "access_url": "https://data.banyuwangi.example/penduduk.csv",
    "download_url": "https://data.banyuwangi.example/penduduk.csv",
    "media_type": "text/csv",
    "format": "CSV",
    "byte_size": 12345,
    "checksum": "sha256:" + "ab" * 32,
}


@cache
def shapes():
    graph = rdflib.Graph()
    graph.parse(shared("dcat", "3.0.0", "shacl", "dcat-ap-SHACL.ttl"), format="turtle")
    return graph


def conforms(text: str, media: str) -> None:
    graph = rdflib.Graph()
    with warnings.catch_warnings():
        # rdflib's own JSON-LD parser uses its deprecated ConjunctiveGraph inside.
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        graph.parse(data=text, format="turtle" if media == "ttl" else "json-ld")
    ok, _, report = pyshacl.validate(graph, shacl_graph=shapes(), inference="none")
    assert ok, report


@pytest.fixture
def world(session, make_publisher):
    publisher = make_publisher(
        "kab-banyuwangi", kind="regency", region_code="35.10",
        website="https://banyuwangikab.go.id", email="kominfo@banyuwangikab.go.id",
    )  # fmt: skip
    full = service.create_dataset(
        session, ADMIN, schemas.DatasetCreate(publisher=publisher.code, **FULL)
    )
    service.create_distribution(session, ADMIN, full, schemas.DistributionCreate(**DISTRIBUTION))
    api = schemas.DistributionCreate(
        access_url="https://api.banyuwangi.example/penduduk", format="API"
    )
    service.create_distribution(session, ADMIN, full, api)
    bare = service.create_dataset(
        session, ADMIN,
        schemas.DatasetCreate(publisher=publisher.code, slug="bare", title={"id": "Data"},
                              visibility="public"),
    )  # fmt: skip
    hidden = service.create_dataset(
        session, ADMIN,
        schemas.DatasetCreate(publisher=publisher.code, slug="rahasia", title={"id": "Rahasia"}),
    )  # fmt: skip
    session.commit()
    return full, bare, hidden


@pytest.mark.parametrize("extension", ["ttl", "jsonld"])
async def test_each_dataset_conforms(client, world, extension):
    for dataset in world[:2]:
        response = await client.get(f"/api/v1/datasets/{dataset.id}.{extension}")
        assert response.status_code == 200, response.text
        conforms(response.text, extension)


@pytest.mark.parametrize("extension", ["ttl", "jsonld"])
async def test_catalog_conforms_and_hides_private(client, world, extension):
    full, bare, hidden = world
    response = await client.get(f"/catalog.{extension}")
    assert response.status_code == 200
    conforms(response.text, extension)
    assert str(full.id) in response.text
    assert str(bare.id) in response.text
    assert str(hidden.id) not in response.text
    assert (await client.get(f"/api/v1/datasets/{hidden.id}.{extension}")).status_code == 404


async def test_demo_catalog_conforms(client, session):
    from registry.demo import load_demo

    load_demo(session)
    session.commit()
    response = await client.get("/catalog.ttl")
    conforms(response.text, "ttl")
    graph = rdflib.Graph().parse(data=response.text, format="turtle")
    datasets = set(
        graph.subjects(rdflib.RDF.type, rdflib.URIRef("http://www.w3.org/ns/dcat#Dataset"))
    )
    assert len(datasets) >= 2


async def test_hydra_paging_and_modified_since(client, world):
    first = await client.get("/catalog.jsonld", params={"limit": 1})
    document = json.loads(first.text)
    views = [n for n in document["@graph"] if "hydra:PartialCollectionView" in n["@type"]]
    next_page = views[0]["hydra:next"][0]["@id"]
    second = await client.get(next_page.replace("http://testserver", ""))
    seen = [n["@id"] for r in (first, second) for n in json.loads(r.text)["@graph"]
            if "dcat:Dataset" in n["@type"]]  # fmt: skip
    assert len(seen) == 2
    assert len(set(seen)) == 2
    later = await client.get("/catalog.ttl", params={"modified_since": "2999-01-01T00:00:00Z"})
    assert "dcat:Dataset" not in later.text


async def test_content_negotiation(client, world):
    full = world[0]
    turtle = await client.get("/catalog", headers={"Accept": "text/turtle"})
    assert turtle.headers["content-type"].startswith("text/turtle")
    default = await client.get("/catalog")
    assert default.headers["content-type"].startswith("application/ld+json")
    refused = await client.get("/catalog", headers={"Accept": "image/png"})
    assert refused.status_code == 406
    redirect = await client.get(f"/api/v1/datasets/{full.id}", headers={"Accept": "text/turtle"})
    assert redirect.status_code == 303
    assert redirect.headers["location"] == f"/api/v1/datasets/{full.id}.ttl"
    plain = await client.get(f"/api/v1/datasets/{full.id}")
    assert plain.json()["slug"] == "penduduk-2025"


async def test_modified_since_takes_only_iso_8601(client, world):
    for value in ("0.5", "1700000000", "1e9"):
        refused = await client.get("/catalog.ttl", params={"modified_since": value})
        assert refused.status_code == 422, value
    assert (
        await client.get("/catalog.ttl", params={"modified_since": "2026-01-01"})
    ).status_code == 200

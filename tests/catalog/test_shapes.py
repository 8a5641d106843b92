"""Shapes the standards and their users expect: a plain release date, and a dataset
created together with its distributions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from registry.catalog.models import Dataset, Distribution


@pytest.fixture
async def banyuwangi(make_publisher, token_for):
    publisher = make_publisher("kab-banyuwangi", kind="regency", region_code="35.10")
    return publisher, await token_for(publisher, "catalog:write")


async def test_release_date_may_be_a_plain_date(client, banyuwangi, make_app):
    publisher, auth = banyuwangi
    app = make_app(publisher)
    created = await client.post(
        f"/api/v1/apps/{app.id}/releases",
        json={"version": "1.0.0", "released_at": "2026-11-01"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    assert created.json()["released_at"].startswith("2026-11-01T00:00:00")
    stamped = await client.post(
        f"/api/v1/apps/{app.id}/releases",
        json={"version": "1.0.1", "released_at": "2026-11-02T08:30:00+07:00"},
        headers=auth,
    )
    assert datetime.fromisoformat(stamped.json()["released_at"]) == datetime(
        2026, 11, 2, 1, 30, tzinfo=UTC
    )
    bad = await client.post(
        f"/api/v1/apps/{app.id}/releases",
        json={"version": "1.0.2", "released_at": "2026-13-01"},
        headers=auth,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][-1] == "released_at"


async def test_dataset_with_distributions_in_one_request(client, banyuwangi, session):
    _, auth = banyuwangi
    body = {
        "slug": "penduduk",
        "title": {"id": "Penduduk"},
        "distributions": [
            {"access_url": "https://data.example/penduduk.csv", "format": "CSV"},
            {"access_url": "https://data.example/api/penduduk", "format": "API"},
        ],
    }
    created = await client.post("/api/v1/datasets", json=body, headers=auth)
    assert created.status_code == 201, created.text
    listed = await client.get(
        f"/api/v1/datasets/{created.json()['id']}/distributions", headers=auth
    )
    assert [d["format"] for d in listed.json()["items"]] == ["CSV", "API"]


async def test_dataset_with_a_bad_distribution_creates_nothing(client, banyuwangi, session):
    _, auth = banyuwangi
    body = {
        "slug": "penduduk",
        "title": {"id": "Penduduk"},
        "distributions": [
            {"access_url": "https://data.example/penduduk.csv"},
            {"format": "CSV"},  # a DCAT-AP distribution needs its access_url
        ],
    }
    refused = await client.post("/api/v1/datasets", json=body, headers=auth)
    assert refused.status_code == 422
    assert ["body", "distributions", 1, "access_url"] in [
        e["loc"] for e in refused.json()["errors"]
    ]
    assert session.exec(select(Dataset)).all() == []
    assert session.exec(select(Distribution)).all() == []

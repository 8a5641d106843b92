"""Mirrors of a peer's items are read-only everywhere, and what a reader is told of
their version (the ETag header and the body's etag) agrees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

ORIGIN = "https://lumbung.pariamankota.example"


@pytest.fixture
def mirrored(session, make_publisher, make_app, make_dataset):
    publisher = make_publisher("kota-pariaman")
    app = make_app(publisher, "e-kelurahan")
    dataset = make_dataset(publisher, "penduduk")
    for item in (publisher, app, dataset):
        item.origin = ORIGIN
        item.updated_at = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
        session.add(item)
    session.commit()
    return {"publisher": publisher, "app": app, "dataset": dataset}


async def test_an_admin_cannot_edit_a_mirrored_publisher(client, token_for, mirrored, session):
    admin = await token_for(None, "admin")
    publisher = mirrored["publisher"]
    response = await client.patch(
        f"/api/v1/publishers/{publisher.id}", json={"name": "Diubah"}, headers=admin
    )
    assert response.status_code == 409, response.text
    assert ORIGIN in response.json()["detail"]
    session.refresh(publisher)
    assert publisher.name != "Diubah"


async def test_an_admin_cannot_edit_a_mirror_even_with_its_etag(client, token_for, mirrored):
    admin = await token_for(None, "admin")
    url = f"/api/v1/publishers/{mirrored['publisher'].id}"
    etag = (await client.get(url)).headers["etag"]
    response = await client.patch(url, json={"name": "X"}, headers=admin | {"If-Match": etag})
    assert response.status_code == 409, response.text


@pytest.mark.parametrize("kind", ["publisher", "app", "dataset"])
async def test_a_mirrors_etag_header_and_body_agree(client, mirrored, kind):
    response = await client.get(f"/api/v1/{kind}s/{mirrored[kind].id}")
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == response.json()["etag"]

"""Bad input gets a problem+json 4xx naming the field, and writes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from registry.catalog.models import App, Dataset

BASE = {"slug": "aplikasi", "name": "Aplikasi", "visibility": "public"}


def _short(text):
    return {"id": {"short_description": text}}


BAD_APPS = [
    pytest.param(BASE | {"name": 42}, "name", id="wrong-type"),
    pytest.param(BASE | {"colour": "merah"}, "colour", id="unknown-field"),
    pytest.param(BASE | {"license": "Bukan-Lisensi-1.0"}, "license", id="invalid-spdx"),
    pytest.param(BASE | {"license": "MIT AND"}, "license", id="broken-spdx"),
    pytest.param(BASE | {"description": _short("x" * 151)}, "short_description", id="151-chars"),
    pytest.param(BASE | {"url": "javascript:alert(1)"}, "url", id="javascript-url"),
    pytest.param(BASE | {"logo": "data:image/png;base64,AAAA"}, "logo", id="data-url"),
    pytest.param(BASE | {"landing_url": "ftp://x.example"}, "landing_url", id="ftp-url"),
    pytest.param(BASE | {"visibility": "semua"}, "visibility", id="bad-visibility"),
    pytest.param(BASE | {"slug": "Bukan Slug"}, "slug", id="bad-slug"),
    pytest.param(
        BASE | {"description": {"bukan bahasa!": _short("x")["id"]}},
        "description",
        id="bad-language-tag",
    ),  # fmt: skip
    pytest.param(BASE | {"spbe_class": "lainnya"}, "spbe_class", id="bad-spbe"),
    pytest.param({"name": "Tanpa slug"}, "slug", id="missing-slug"),
]


@pytest.fixture
async def owner_auth(make_publisher, token_for):
    return await token_for(make_publisher("kab-banyuwangi"), "catalog:write")


@pytest.mark.parametrize(("body", "field"), BAD_APPS)
async def test_bad_app_is_refused_and_nothing_written(client, session, owner_auth, body, field):
    response = await client.post("/api/v1/apps", json=body, headers=owner_auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert any(field in map(str, error["loc"]) for error in problem["errors"]), problem
    assert session.exec(select(func.count()).select_from(App)).one() == 0


async def test_oversize_body_is_413(client, session, owner_auth, settings):
    body = BASE | {"tags": ["x"], "name": "x" * (settings.max_body_bytes + 10)}
    response = await client.post("/api/v1/apps", json=body, headers=owner_auth)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert session.exec(select(func.count()).select_from(App)).one() == 0


async def test_streamed_oversize_body_is_413(client, owner_auth, settings):
    async def chunks():
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = await client.post(
        "/api/v1/apps",
        content=chunks(),
        headers=owner_auth | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_malformed_json_is_422(client, owner_auth):
    response = await client.post(
        "/api/v1/apps",
        content=b'{"slug": ',
        headers=owner_auth | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_null_for_required_field_on_update_is_422(client, make_publisher, make_app,
                                                         token_for):  # fmt: skip
    owner = make_publisher("kab-banyuwangi")
    app = make_app(owner)
    auth = await token_for(owner, "catalog:write")
    for field in ("name", "tags", "visibility"):
        response = await client.patch(f"/api/v1/apps/{app.id}", json={field: None}, headers=auth)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["errors"][0]["loc"][-1] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "d", "title": {"id": "D"}, "themes": ["SPORT"]}, "themes"),
        ({"slug": "d", "title": {}}, "title"),
        (
            {
                "slug": "d",
                "title": {"id": "D"},
                "temporal": {"start": "2025-01-01", "end": "2024-01-01"},
            },
            "temporal",
        ),  # fmt: skip
        ({"slug": "d", "title": {"id": "D"}, "landing_page": "javascript:x"}, "landing_page"),
        (
            {"slug": "d", "title": {"id": "D"}, "spatial": {"region_code": "Banyuwangi"}},
            "region_code",
        ),  # fmt: skip
    ],
)
async def test_bad_dataset_is_refused(client, session, owner_auth, body, field):
    response = await client.post("/api/v1/datasets", json=body, headers=owner_auth)
    assert response.status_code == 422, response.text
    assert any(field in map(str, e["loc"]) for e in response.json()["errors"])
    assert session.exec(select(func.count()).select_from(Dataset)).one() == 0


async def test_not_found_and_bad_ids_are_problems(client):
    for url in ("/api/v1/apps/not-a-uuid", "/api/v1/nothing-here"):
        response = await client.get(url)
        assert response.status_code in (404, 422)
        assert response.headers["content-type"] == "application/problem+json"


async def test_invalid_token_is_401_even_for_reads(client):
    response = await client.get("/api/v1/apps", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"

"""publiccode.yml through the API, as a city's CI pipeline uses it."""

from __future__ import annotations

import jsonschema_rs
import pytest
import yaml

from registry.formats import publiccode
from tests.formats.test_publiccode import GOOD

YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
async def banyuwangi(make_publisher, token_for):
    publisher = make_publisher("kab-banyuwangi", kind="regency", region_code="35.10")
    return publisher, await token_for(publisher, "catalog:write")


async def test_import_creates_then_reimport_updates(client, banyuwangi):
    _, auth = banyuwangi
    first = await client.post(
        "/api/v1/apps/import?visibility=public", content=GOOD, headers={**auth, **YAML}
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True
    assert body["issues"] == []
    assert body["app"]["slug"] == "smart-kampung"
    assert body["app"]["publisher"] == "kab-banyuwangi"

    changed = GOOD.replace("developmentStatus: stable", "developmentStatus: beta")
    second = await client.post("/api/v1/apps/import", content=changed, headers={**auth, **YAML})
    assert second.status_code == 200, second.text
    assert second.json()["app"]["id"] == body["app"]["id"]
    assert second.json()["app"]["development_status"] == "beta"
    assert second.json()["app"]["visibility"] == "public"  # kept on re-import
    listed = await client.get("/api/v1/apps", params={"publisher": "kab-banyuwangi"})
    assert len(listed.json()["items"]) == 1


async def test_export_is_a_current_publiccode_yml(client, banyuwangi):
    _, auth = banyuwangi
    created = await client.post(
        "/api/v1/apps/import?visibility=public",
        content=GOOD + "x-city:\n  kecamatan: 25\n",
        headers={**auth, **YAML},
    )
    app_id = created.json()["app"]["id"]
    exported = await client.get(f"/api/v1/apps/{app_id}/publiccode.yml")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    document = publiccode.parse(exported.text).document
    assert document["publiccodeYmlVersion"] == "0"
    assert document["x-city"] == {"kecamatan": 25}  # kept round trip
    assert set(document["description"]) == {"id", "en"}
    assert document["organisation"]["uri"].endswith(
        f"/api/v1/publishers/{created.json()['app']['publisher_id']}"
    )


async def test_export_body_matches_its_declared_schema(client, banyuwangi, node_app):
    # The document declared the YAML as a string; parsed, as a client reads it, it is
    # a mapping, and schemathesis's response check failed on it.
    _, auth = banyuwangi
    created = await client.post(
        "/api/v1/apps/import?visibility=public", content=GOOD, headers={**auth, **YAML}
    )
    exported = await client.get(f"/api/v1/apps/{created.json()['app']['id']}/publiccode.yml")
    operation = node_app.openapi()["paths"]["/api/v1/apps/{app_id}/publiccode.yml"]["get"]
    schema = operation["responses"]["200"]["content"]["application/yaml"]["schema"]
    jsonschema_rs.validate(schema, yaml.safe_load(exported.text))


async def test_private_app_export_is_not_found_for_others(client, banyuwangi):
    _, auth = banyuwangi
    created = await client.post("/api/v1/apps/import", content=GOOD, headers={**auth, **YAML})
    app_id = created.json()["app"]["id"]
    assert created.json()["app"]["visibility"] == "private"
    assert (await client.get(f"/api/v1/apps/{app_id}/publiccode.yml")).status_code == 404
    owner = await client.get(f"/api/v1/apps/{app_id}/publiccode.yml", headers=auth)
    assert owner.status_code == 200


async def test_strict_rejects_listing_every_error(client, banyuwangi):
    _, auth = banyuwangi
    broken = GOOD.replace("localisationReady: true", "localisationReady: yes").replace(
        "license: EUPL-1.2", "license: Apache License, Version 2.0"
    )
    strict = await client.post(
        "/api/v1/apps/import?strict=true", content=broken, headers={**auth, **YAML}
    )
    assert strict.status_code == 422
    assert strict.headers["content-type"] == "application/problem+json"
    locs = {tuple(e["loc"]) for e in strict.json()["errors"]}
    assert ("publiccode", "localisation", "localisationReady") in locs
    assert ("publiccode", "legal", "license") in locs
    lenient = await client.post("/api/v1/apps/import", content=broken, headers={**auth, **YAML})
    assert lenient.status_code == 201
    assert lenient.json()["app"]["license"] == "Apache-2.0"
    assert {i["path"] for i in lenient.json()["issues"]} == {
        "localisation.localisationReady",
        "legal.license",
    }


async def test_unrecoverable_file_is_422_and_writes_nothing(client, banyuwangi):
    _, auth = banyuwangi
    response = await client.post(
        "/api/v1/apps/import", content=b"name: only\n", headers={**auth, **YAML}
    )
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} >= {
        ("publiccode", "url"),
        ("publiccode", "description"),
    }
    assert (await client.get("/api/v1/apps", headers=auth)).json()["items"] == []


async def test_import_needs_scope_and_own_publisher(client, banyuwangi, make_publisher, token_for):
    _, auth = banyuwangi
    make_publisher("kota-pariaman")
    assert (await client.post("/api/v1/apps/import", content=GOOD, headers=YAML)).status_code == 401
    foreign = await client.post(
        "/api/v1/apps/import?publisher=kota-pariaman", content=GOOD, headers={**auth, **YAML}
    )
    assert foreign.status_code == 403


async def test_import_by_url_refuses_loopback_unless_allowed(client, app, banyuwangi, file_server):
    _, auth = banyuwangi
    base, routes = file_server
    routes["/publiccode.yml"] = (200, GOOD.encode(), {"Content-Type": "application/yaml"})
    routes["/moved"] = (302, b"", {"Location": "/publiccode.yml"})
    refused = await client.post(
        "/api/v1/apps/import", json={"url": f"{base}/publiccode.yml"}, headers=auth
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/unsafe-address")

    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"fetch_allow": ["127.0.0.0/8"]})
    try:
        fetched = await client.post(
            "/api/v1/apps/import", json={"url": f"{base}/moved"}, headers=auth
        )
        assert fetched.status_code == 201, fetched.text
        missing = await client.post(
            "/api/v1/apps/import", json={"url": f"{base}/nothing.yml"}, headers=auth
        )
        assert missing.status_code == 422
        assert "404" in missing.json()["detail"]
        app.state.settings = settings.model_copy(
            update={"fetch_allow": ["127.0.0.0/8"], "fetch_max_bytes": 1024}
        )
        routes["/big.yml"] = (200, b"#" * 5000, {})
        big = await client.post(
            "/api/v1/apps/import", json={"url": f"{base}/big.yml"}, headers=auth
        )
        assert big.status_code == 422
        assert "limit" in big.json()["detail"]
    finally:
        app.state.settings = settings


async def test_import_by_url_only_http(client, banyuwangi):
    _, auth = banyuwangi
    response = await client.post(
        "/api/v1/apps/import", json={"url": "file:///etc/passwd"}, headers=auth
    )
    assert response.status_code == 400


async def test_nan_and_infinity_under_an_extension_key_are_kept_as_their_words(client, banyuwangi):
    # JSON has no number for them, and PostgreSQL's jsonb refuses them: before, the
    # import failed there with an error that named no key.
    _, auth = banyuwangi
    document = GOOD + "x-lumbung-demo:\n  ratio: .nan\n  limits: [.inf, -.Inf]\n"
    imported = await client.post(
        "/api/v1/apps/import?visibility=public", content=document, headers={**auth, **YAML}
    )
    assert imported.status_code == 201, imported.text
    app_id = imported.json()["app"]["id"]
    exported = await client.get(f"/api/v1/apps/{app_id}/publiccode.yml")
    assert exported.status_code == 200, exported.text
    assert yaml.safe_load(exported.text)["x-lumbung-demo"] == {
        "ratio": ".nan",
        "limits": [".inf", "-.inf"],
    }

"""The OpenAPI document says what the node really does.

Each test here started as a schemathesis finding (tests/fuzz): a response the document
did not declare, or a rule the server enforces that the document did not state.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from registry.catalog.fields import HTTP_URL_PATTERN, LANGUAGE_TAG, check_http_url
from registry.errors import PROBLEM_MEDIA_TYPE

METHODS = ("get", "put", "post", "delete", "patch")
PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
# RFC 6749 §5.2 errors are plain JSON of their own shape, not problem+json.
OAUTH_ENDPOINTS = ("/oauth/",)


@pytest.fixture(scope="module")
def document(node_app: FastAPI) -> dict[str, Any]:
    return node_app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_every_error_is_documented_as_problem_json(document: dict[str, Any]) -> None:
    wrong = [
        f"{method} {path} {status}: {sorted(response.get('content', {}))}"
        for method, path, operation in operations(document)
        if not path.startswith(OAUTH_ENDPOINTS)
        for status, response in operation["responses"].items()
        if status >= "400" and response.get("content") != PROBLEM
    ]
    assert wrong == []
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_shared_answers_are_documented_where_they_can_happen(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in operations(document):
        declared = set(operation["responses"])
        expected = {"422"}
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            expected |= {"400", "413"}
        if any("lumbung" in s for s in operation.get("security", [])):
            expected |= {"401"}
        if any(s.get("lumbung") for s in operation.get("security", [])):
            expected |= {"403"}
        if "{" in path:
            expected |= {"404"}
        if any(p["name"] == "If-Match" for p in operation.get("parameters", [])):
            expected |= {"412"}
        if expected - declared:
            missing.append(f"{method} {path}: {sorted(expected - declared)}")
    assert missing == []


async def test_405_names_every_method_of_the_path(client: httpx2.AsyncClient) -> None:
    # Starlette named only the first matching route's methods: `Allow: GET` for a path
    # that also takes PATCH and DELETE.
    app_path = f"/api/v1/apps/{uuid.uuid4()}"
    cases = {
        "/api/v1/publishers": "GET, POST",
        app_path: "DELETE, GET, PATCH",
        "/oauth/token": "POST",
    }
    for path, allow in cases.items():
        response = await client.request("PUT", path)
        assert response.status_code == 405, path
        assert response.headers["Allow"] == allow, path
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


async def test_a_fixed_path_beside_an_id_path_is_a_405_not_an_id(
    client: httpx2.AsyncClient,
) -> None:
    # /apps/import and /datasets/<id>.jsonld also matched /apps/{app_id} and
    # /datasets/{dataset_id}: a PATCH of them was a 422 about the id, not a 405.
    cases = {
        ("PATCH", "/api/v1/apps/import"): "POST",
        ("DELETE", "/api/v1/apps/import"): "POST",
        ("PATCH", f"/api/v1/datasets/{uuid.uuid4()}.jsonld"): "GET",
        ("DELETE", f"/api/v1/datasets/{uuid.uuid4()}.ttl"): "GET",
    }
    for (method, path), allow in cases.items():
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["Allow"] == allow, (method, path)
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    # And the other way: an id that is no UUID but has a dot is no DCAT document path.
    for method in ("PATCH", "DELETE"):
        response = await client.request(method, "/api/v1/datasets/0.5")
        assert response.status_code == 404, (method, response.text)
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


def test_id_convertors_stay_out_of_the_document(document: dict[str, Any]) -> None:
    # The routes take their ids as `{app_id:uuid}`; the document names the parameter.
    assert "/api/v1/apps/{app_id}" in document["paths"]
    assert "/api/v1/datasets/{dataset_id}" in document["paths"]
    assert "/api/v1/datasets/{dataset_id}.{extension}" in document["paths"]
    assert not [path for path in document["paths"] if ":" in path]


async def test_a_body_that_cannot_be_decoded_is_a_documented_400(
    client: httpx2.AsyncClient, document: dict[str, Any], token_for: Any
) -> None:
    # JSON with a syntax error is a 422 naming the body; bytes that cannot be decoded
    # at all are refused by the body parser itself with a 400, which the document
    # did not declare.
    headers = await token_for(None, "admin")
    headers["Content-Type"] = "application/json"
    checked = 0
    for method, path, operation in operations(document):
        if "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        response = await client.request(
            method, concrete(path), content=b"\x1f8\xff+", headers=headers
        )
        assert response.status_code == 400, f"{method} {path}: {response.text}"
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert operation["responses"]["400"]["content"] == PROBLEM
        checked += 1
    assert checked > 10


URL_SAMPLES = [
    "https://kab-banyuwangi.go.id/aplikasi",
    "HTTP://example.org",
    "http://[::1]:8000/x?y#z",
    "ftp://example.org/file",
    "javascript:alert(1)",
    "https:///no-host",
    "https://exa mple.org",
    "https://example.org/\tx",
    "//example.org/relative",
    "example.org",
]


@pytest.mark.parametrize("url", URL_SAMPLES)
def test_the_documented_url_pattern_is_the_rule_the_node_applies(url: str) -> None:
    try:
        check_http_url(url)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.match(HTTP_URL_PATTERN, url)) == accepted


def test_urls_and_language_tags_carry_their_patterns(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    url = next(s for s in schemas["AppCreate"]["properties"]["url"]["anyOf"] if "type" in s)
    assert url["pattern"] == HTTP_URL_PATTERN
    assert schemas["DistributionCreate"]["properties"]["access_url"]["pattern"] == (
        HTTP_URL_PATTERN
    )
    descriptions = next(
        s for s in schemas["AppCreate"]["properties"]["description"]["anyOf"] if "type" in s
    )
    # Every key must be a language tag: keys that are not are refused, not ignored.
    assert descriptions["propertyNames"]["pattern"] == LANGUAGE_TAG.pattern
    assert "patternProperties" not in descriptions
    title = schemas["DatasetCreate"]["properties"]["title"]
    assert title["propertyNames"]["pattern"] == LANGUAGE_TAG.pattern


async def test_a_key_that_is_not_a_language_tag_is_refused(
    client: httpx2.AsyncClient, token_for: Any, make_publisher: Any
) -> None:
    make_publisher("kab-banyuwangi")
    headers = await token_for(None, "admin")
    response = await client.post(
        "/api/v1/datasets",
        json={"publisher": "kab-banyuwangi", "slug": "penduduk", "title": {"not a tag": "x"}},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE

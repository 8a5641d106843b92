"""Every JSON answer of the API ends with a newline, so ``curl`` output in a terminal
does not run into the next prompt; Content-Length counts it and the ETag ignores it."""

from __future__ import annotations

import httpx2
import pytest


def assert_json_line(response: httpx2.Response) -> None:
    assert response.content.endswith(b"}\n") or response.content.endswith(b"]\n"), response.content
    assert int(response.headers["content-length"]) == len(response.content)
    response.json()


async def test_json_responses_end_with_a_newline(client, make_publisher, make_app, token_for):
    publisher = make_publisher("kota-pariaman", kind="city")
    app = make_app(publisher, "suara-warga")
    auth = await token_for(publisher, "catalog:write")

    read = await client.get(f"/api/v1/apps/{app.id}")
    assert_json_line(read)
    assert read.json()["etag"] == read.headers["etag"]

    created = await client.post("/api/v1/apps", json={"slug": "baru", "name": "Baru"}, headers=auth)
    assert created.status_code == 201, created.text
    assert_json_line(created)

    for path in ["/api/v1/apps", "/api/v1/publishers", "/federation/v1/changes"]:
        listed = await client.get(path)
        assert listed.status_code == 200, listed.text
        assert_json_line(listed)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/apps/00000000-0000-7000-8000-000000000000"),
        ("POST", "/api/v1/apps"),
        ("POST", "/oauth/token"),
    ],
)
async def test_errors_end_with_a_newline(client, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert response.status_code >= 400
    assert_json_line(response)

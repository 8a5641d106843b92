"""Every response carries the security headers; HTML gets a Content-Security-Policy;
links never come from the request's Host header; the API docs load nothing from
elsewhere; a stalled request body gets 408."""

from __future__ import annotations

import asyncio
import re

import httpx2
import pytest

from registry.app import create_app

FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


def _assert_secure(response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "server" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/apps", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/api/v1/apps/not-an-id", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/api/v1/apps?q=%00", 422),
        ("POST", "/api/v1/apps", 401),
        ("GET", "/docs", 200),
        ("GET", "/redoc", 200),
        ("GET", "/", 200),
    ],
)
async def test_every_response_carries_the_security_headers(client, method, path, status):
    response = await client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status, response.text
    _assert_secure(response)


async def test_an_oversize_body_answer_carries_them_too(client, settings):
    response = await client.post(
        "/api/v1/apps",
        content=b" " * (settings.max_body_bytes + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    _assert_secure(response)


async def test_html_gets_a_policy_that_loads_only_from_the_node(client):
    response = await client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]


async def test_json_is_never_a_document(client):
    policy = (await client.get("/api/v1/apps")).headers["content-security-policy"]
    assert policy.startswith("default-src 'none'")


async def test_links_come_from_the_base_url_not_the_host_header(client, make_publisher, make_app):
    publisher = make_publisher("kab-banyuwangi")
    make_app(publisher, "satu")
    make_app(publisher, "dua")
    response = await client.get("/api/v1/apps", params={"limit": 1}, headers=FORGED)
    assert response.status_code == 200
    link = response.headers["link"]
    assert link.startswith("<http://testserver/api/v1/apps?"), link
    assert "evil.example" not in str(response.headers) + response.text


async def test_a_trailing_slash_does_not_redirect_to_the_forged_host(client):
    response = await client.get("/api/v1/apps/", headers=FORGED)
    assert "evil.example" not in str(response.headers)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_api_docs_load_only_from_the_node(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    html = response.text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", html)
    assert urls, html
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "http://" not in html
    assert "https://" not in html
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
    # The page's own inline script runs (allowed by its hash), nothing else inline.
    policy = response.headers["content-security-policy"]
    script_src = policy.split("script-src", 1)[1].split(";")[0]
    assert "unsafe-inline" not in script_src
    if "<script>" in html:
        assert "'sha256-" in script_src


async def test_a_stalled_body_gets_408(settings, engine, connection):
    app = create_app(settings.model_copy(update={"body_timeout": 0.3}), engine=connection)
    stalled = asyncio.Event()

    async def body():
        yield b"gra"
        await stalled.wait()  # never set: the client stops sending
        yield b"nt_type=client_credentials"

    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await asyncio.wait_for(
            client.post(
                "/oauth/token",
                content=body(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            timeout=10,
        )
    assert response.status_code == 408
    assert response.headers["content-type"] == "application/problem+json"

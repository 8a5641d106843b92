"""Hostile input at the HTTP layer: NUL characters anywhere and out-of-range cursors
are refused with a 422 naming the field, never a 500 from the database."""

from __future__ import annotations

import uuid

import pytest

from tests.catalog.test_bad_input import BASE


def _assert_422(response, loc: list) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert loc in [error["loc"] for error in response.json()["errors"]], response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/apps",
        "/api/v1/datasets",
        "/api/v1/publishers",
        "/api/v1/search",
    ],
)
async def test_nul_in_a_query_parameter_is_422(client, path):
    response = await client.get(f"{path}?q=%00")
    _assert_422(response, ["query", "q"])


async def test_nul_in_a_path_segment_is_422(client):
    response = await client.get("/api/v1/publishers/kab%00x")
    _assert_422(response, ["path"])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param(BASE | {"name": "Apli\u0000kasi"}, ["body", "name"], id="top-level"),
        pytest.param(BASE | {"tags": ["ok", "\u0000"]}, ["body", "tags", 1], id="in-a-list"),
        pytest.param(
            BASE | {"description": {"id": {"short_description": "x\u0000"}}},
            ["body", "description", "id", "short_description"],
            id="nested",
        ),
        pytest.param(
            BASE | {"description": {"i\u0000d": {"short_description": "x"}}},
            ["body", "description", "i\u0000d"],
            id="in-a-key",
        ),
    ],
)
async def test_nul_in_a_json_body_is_422_and_writes_nothing(
    client, make_publisher, token_for, body, loc
):
    auth = await token_for(make_publisher("kab-banyuwangi"), "catalog:write")
    response = await client.post("/api/v1/apps", json=body, headers=auth)
    _assert_422(response, loc)
    listed = await client.get("/api/v1/apps", headers=auth)
    assert listed.json()["items"] == []


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(client, make_publisher, token_for):
    auth = await token_for(make_publisher("kab-banyuwangi"), "catalog:write")
    response = await client.post(
        "/api/v1/apps", json=BASE | {"name": "C:\\u0000 path"}, headers=auth
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "C:\\u0000 path"


async def test_nul_in_an_anonymous_json_body_is_422(client):
    response = await client.post(
        "/federation/v1/partnerships",
        content=b'{"reference": "\\u0000"}',
        headers={"Content-Type": "application/json"},
    )
    _assert_422(response, ["body", "reference"])


async def test_nul_in_a_token_request_form_is_422(client):
    response = await client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&client_id=%00&client_secret=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_422(response, ["body", "client_id"])


@pytest.mark.parametrize(
    "after",
    [
        "9223372036854775808",  # one past the largest BIGINT
        "9999999999999999999",
        "\u00b2",  # a Unicode digit that str.isdigit accepts
        "\u0661\u0662",  # Arabic-Indic digits
        "12\n",
        "-1",
        "+1",
        " 1",
    ],
)
async def test_feed_cursor_out_of_range_or_not_ascii_is_422(client, after):
    response = await client.get("/federation/v1/changes", params={"after": after})
    _assert_422(response, ["query", "after"])


async def test_feed_cursor_at_the_largest_bigint_is_an_empty_page(client):
    response = await client.get("/federation/v1/changes", params={"after": str(2**63 - 1)})
    assert response.status_code == 200, response.text
    assert response.json()["entries"] == []


@pytest.mark.parametrize("cursor", ["\u00b2", "%%%", "A" * 200, "AAAA"])
@pytest.mark.parametrize("path", ["/api/v1/apps", "/api/v1/datasets", "/api/v1/search"])
async def test_list_cursor_garbage_is_422(client, path, cursor):
    response = await client.get(path, params={"cursor": cursor})
    _assert_422(response, ["query", "cursor"])


class _Stream:
    """A lazily generated request body that counts what the server pulled from it."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self):
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/publishers/artifacts"),
        ("POST", "/api/v1/apps/artifacts"),
        ("PUT", "/api/v1/apps/x/releases/y/artifacts"),
        ("POST", "/api/v1/apps/x/releases/y/artifacts/z"),
    ],
)
async def test_only_the_upload_route_may_send_a_large_body(client, settings, method, path):
    body = _Stream(32 * 1024 * 1024)
    response = await client.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    # The server stopped reading at the limit instead of buffering the whole body.
    assert body.sent <= settings.max_body_bytes + 2 * body.chunk


async def test_an_anonymous_upload_is_refused_before_its_body_is_read(client):
    body = _Stream(32 * 1024 * 1024)
    response = await client.post(
        f"/api/v1/apps/{uuid.uuid4()}/releases/{uuid.uuid4()}/artifacts",
        params={"name": "a.bin"},
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 401, response.text
    assert body.sent <= body.chunk


async def test_nul_inside_an_imported_yaml_is_422_naming_the_field(
    client, make_publisher, token_for
):
    """Text parsed from inside a body (here a publiccode.yml's "\\0" escape) is checked
    where it is written, whatever brought it."""
    from tests.formats.test_publiccode import GOOD

    auth = await token_for(make_publisher("kab-banyuwangi"), "catalog:write")
    document = GOOD.replace("name: Smart Kampung", 'name: "Smart\\0Kampung"')
    assert document != GOOD
    response = await client.post(
        "/api/v1/apps/import",
        content=document.encode(),
        headers=auth | {"Content-Type": "application/yaml"},
    )
    _assert_422(response, ["name"])
    listed = await client.get("/api/v1/apps", headers=auth)
    assert listed.json()["items"] == []

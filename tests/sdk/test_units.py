"""Parts of the SDK that need no node: backoff, error mapping, token renewal, assertions.

Where HTTP is involved, ``httpx2.MockTransport`` plays the node.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from lumbung_client import (
    APIError,
    Client,
    Conflict,
    Forbidden,
    LumbungError,
    NotFound,
    PreconditionFailed,
    PrivateKey,
    RateLimited,
    Retry,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
    load_private_key,
)
from lumbung_client._config import normalise_base_url
from lumbung_client._transport import api_error, parse_retry_after

ISSUER = "https://lumbung.banyuwangikab.example"


def test_backoff_grows_and_is_jittered() -> None:
    retry = Retry(backoff=1.0, max_backoff=8.0)
    for n, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = {retry.delay(n) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
    assert retry.delay(1, retry_after=30) == 30


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    parsed = parse_retry_after(later)
    assert parsed is not None
    assert 55 <= parsed <= 61


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationFailed),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (412, PreconditionFailed),
        (422, ValidationFailed),
        (428, PreconditionFailed),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (418, APIError),
    ],
)
def test_statuses_map_to_exceptions(status: int, cls: type[APIError]) -> None:
    request = httpx2.Request("GET", "https://node.example/api/v1/apps")
    response = httpx2.Response(
        status,
        json={
            "type": "https://lumbung.id/problems/x",
            "title": "T",
            "status": status,
            "detail": "D",
            "errors": [{"loc": ["body", "slug"], "msg": "bad"}],
        },
        request=request,
    )
    error = api_error(response)
    assert type(error) is cls
    assert isinstance(error, LumbungError)
    assert error.status == status
    assert error.detail == "D"
    assert error.errors[0].field == "slug"


def test_non_json_error_bodies_are_kept_as_text() -> None:
    request = httpx2.Request("GET", "https://node.example/")
    error = api_error(httpx2.Response(502, text="<html>Bad gateway</html>", request=request))
    assert isinstance(error, ServerError)
    assert error.body == "<html>Bad gateway</html>"


def test_base_url_is_normalised() -> None:
    assert normalise_base_url("https://node.example/") == "https://node.example"
    assert normalise_base_url("https://node.example/api/v1/") == "https://node.example"
    with pytest.raises(ValueError, match="http"):
        normalise_base_url("node.example")


def test_credential_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="client_secret or private_key"):
        Client("https://node.example", client_id="abc")
    with pytest.raises(ValueError, match="not both"):
        Client("https://node.example", client_id="a", client_secret="b", private_key={})
    with pytest.raises(ValueError, match="client_id"):
        Client("https://node.example", client_secret="b")


class FakeNode:
    """A token endpoint and one API route, counting token requests."""

    def __init__(self, lifetime: int = 300) -> None:
        self.lifetime = lifetime
        self.token_requests: list[httpx2.Request] = []
        self.api_requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx2.Response(200, json={"issuer": ISSUER})
        if request.url.path == "/oauth/token":
            self.token_requests.append(request)
            n = len(self.token_requests)
            return httpx2.Response(
                200,
                json={
                    "access_token": f"token-{n}",
                    "token_type": "Bearer",
                    "expires_in": self.lifetime,
                    "scope": "admin",
                },
            )
        self.api_requests.append(request)
        return httpx2.Response(200, json={"items": [], "next_cursor": None})


def test_token_is_renewed_shortly_before_expiry() -> None:
    node = FakeNode(lifetime=300)
    now = [1000.0]
    client = Client(
        ISSUER,
        client_id="ci",
        client_secret="s3cret/with:odd chars",
        transport=httpx2.MockTransport(node),
    )
    assert client._tokens is not None
    client._tokens._clock = lambda: now[0]
    with client:
        client.apps.list().first_page()
        now[0] += 260
        client.apps.list().first_page()
        assert len(node.token_requests) == 1
        now[0] += 15  # 275 s: inside the renewal margin of a 300 s token
        client.apps.list().first_page()
        assert len(node.token_requests) == 2
    assert [r.headers["authorization"] for r in node.api_requests] == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]
    basic = node.token_requests[0].headers["authorization"].split()[1]
    assert base64.b64decode(basic).decode() == "ci:s3cret%2Fwith%3Aodd%20chars"
    assert parse_qs(node.token_requests[0].content.decode()) == {
        "grant_type": ["client_credentials"]
    }


def test_anonymous_client_sends_no_token() -> None:
    node = FakeNode()
    with Client(ISSUER, transport=httpx2.MockTransport(node)) as client:
        client.apps.list().first_page()
    assert node.token_requests == []
    assert "authorization" not in node.api_requests[0].headers


def test_requested_scope_is_sent() -> None:
    node = FakeNode()
    with Client(
        ISSUER,
        client_id="ci",
        client_secret="x",
        scope="catalog:write",
        transport=httpx2.MockTransport(node),
    ) as client:
        client.token()
    assert parse_qs(node.token_requests[0].content.decode())["scope"] == ["catalog:write"]


def _assertion_claims(request: httpx2.Request, key: ECKey | RSAKey) -> tuple[dict, dict]:
    form = parse_qs(request.content.decode())
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    assert "authorization" not in request.headers
    token = jwt.decode(form["client_assertion"][0], key, algorithms=["ES256", "RS256"])
    return dict(token.header), dict(token.claims)


@pytest.mark.parametrize("form", ["jwk-dict", "jwk-json", "pem", "pem-bytes", "path"])
def test_private_key_jwt_assertions(form: str, tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    given: dict[str, Any] | str | bytes | Path | None = {
        "jwk-dict": key.as_dict(private=True),
        "jwk-json": json.dumps(key.as_dict(private=True)),
        "pem": key.as_pem(private=True).decode(),
        "pem-bytes": key.as_pem(private=True),
        "path": None,
    }[form]
    if form == "path":
        path = tmp_path / "key.pem"
        path.write_bytes(key.as_pem(private=True))
        given = path
    node = FakeNode()
    client = Client(
        ISSUER, client_id="node-pariaman", private_key=given, transport=httpx2.MockTransport(node)
    )
    with client:
        client.token()
        assert client._tokens is not None
        client._tokens.invalidate("token-1")
        client.token()

    first_header, first = _assertion_claims(node.token_requests[0], key)
    _, second = _assertion_claims(node.token_requests[1], key)
    assert first_header["alg"] == "ES256"
    assert first_header["kid"] == key.thumbprint()
    assert first["iss"] == first["sub"] == "node-pariaman"
    assert first["aud"] == ISSUER
    assert 0 < first["exp"] - first["iat"] <= 300
    assert abs(first["iat"] - time.time()) < 60
    assert first["jti"] != second["jti"]


def test_rsa_keys_sign_with_rs256() -> None:
    key = RSAKey.generate_key(2048)
    signer = PrivateKey("c", key.as_dict(private=True))
    assert signer.algorithm == "RS256"
    header = jwt.decode(signer.assertion(ISSUER), key, algorithms=["RS256"]).header
    assert header["kid"] == signer.kid


def test_public_keys_are_refused() -> None:
    key = ECKey.generate_key("P-256")
    with pytest.raises(ValueError, match="public"):
        load_private_key(key.as_dict(private=False))
    with pytest.raises(ValueError, match="public"):
        load_private_key(key.as_pem(private=False))
    with pytest.raises(ValueError, match="JWK"):
        load_private_key("not a key")


def test_private_key_is_not_in_repr() -> None:
    key = ECKey.generate_key("P-256")
    signer = PrivateKey("c", key.as_dict(private=True))
    assert str(key.as_dict(private=True)["d"]) not in repr(signer)


def test_node_artifact_urls_are_fetched_through_the_clients_own_address(
    tmp_path: pytest.TempPathFactory,
) -> None:
    """A node names its files by its public URL; a client that reaches it by another
    address (an internal name, a proxy) must fetch them there, with its token."""
    import hashlib
    import uuid

    public = "https://lumbung.public.example"
    app_id, release_id = uuid.uuid4(), uuid.uuid4()
    content = b"berkas rilis"
    file_path = f"/api/v1/apps/{app_id}/releases/{release_id}/artifacts/rilis.bin"
    seen: list[httpx2.Request] = []

    def node(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        path = request.url.path
        if path == "/.well-known/oauth-authorization-server":
            return httpx2.Response(200, json={"issuer": public})
        if path == "/oauth/token":
            return httpx2.Response(200, json={"access_token": "t", "expires_in": 300})
        if path == f"/api/v1/apps/{app_id}":
            return httpx2.Response(
                200, json={"id": str(app_id), "publisher": "kota-x", "slug": "x", "name": "X"}
            )
        if path == f"/api/v1/apps/{app_id}/releases":
            artifact = {
                "name": "rilis.bin",
                "url": public + file_path,
                "sha256": hashlib.sha256(content).hexdigest(),
                "size": len(content),
            }
            release = {
                "id": str(release_id),
                "app_id": str(app_id),
                "version": "1.0",
                "artifacts": [artifact],
            }
            return httpx2.Response(200, json={"items": [release], "next_cursor": None})
        if path == file_path:
            return httpx2.Response(200, content=content)
        return httpx2.Response(404, json={"title": "Not found", "status": 404})

    with Client(
        "http://internal.test:8080",
        client_id="ci",
        client_secret="s",
        transport=httpx2.MockTransport(node),
    ) as client:
        result = client.apps.pull(str(app_id), dest=tmp_path)  # type: ignore[arg-type]
    assert result.files[0].path.read_bytes() == content
    download = next(r for r in seen if r.url.path == file_path)
    assert download.url.host == "internal.test"
    assert download.headers["authorization"] == "Bearer t"


def test_post_without_key_is_retried_when_the_connection_never_opened() -> None:
    """A refused connection means the node never saw the request, so even a POST that
    may not run twice is sent again; one broken after sending is not."""
    calls: list[str] = []

    def node(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx2.ConnectError("connection refused", request=request)
        if len(calls) == 2:
            raise httpx2.ReadError("connection reset", request=request)
        return httpx2.Response(200, json={})

    fast = Retry(attempts=4, backoff=0.001, max_backoff=0.001)
    client = Client(ISSUER, transport=httpx2.MockTransport(node), retry=fast)
    with client, pytest.raises(TransportError) as caught:
        client._transport.request("POST", "/api/v1/partnerships/x/approve")
    assert calls == ["/api/v1/partnerships/x/approve"] * 2
    assert "ReadError" in str(caught.value)

from __future__ import annotations

import base64
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from joserfc import jws

from registry.app import create_app
from registry.oauth.models import OAuthClient
from registry.oauth.service import revoke_client
from registry.settings import Settings
from tests.oauth.conftest import basic

MakeClient = Callable[..., tuple[OAuthClient, str]]
GRANT = {"grant_type": "client_credentials"}


async def get_token(
    client: httpx2.AsyncClient, oauth_client: OAuthClient, secret: str, **form: str
) -> str:
    response = await client.post(
        "/oauth/token", data={**GRANT, **form}, headers=basic(oauth_client.client_id, secret)
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_oauth_error(response: httpx2.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error


# --- token endpoint ---------------------------------------------------------------


async def test_token_issued_with_basic_auth(
    client: httpx2.AsyncClient, make_client: MakeClient, settings: Settings
) -> None:
    oauth_client, secret = make_client("catalog:write sharing:write")

    response = await client.post(
        "/oauth/token", data=GRANT, headers=basic(oauth_client.client_id, secret)
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.access_token_lifetime
    assert body["scope"] == "catalog:write sharing:write"
    assert "refresh_token" not in body
    header = jws.extract_compact(body["access_token"].encode()).headers()
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"


async def test_token_works_on_the_api(client: httpx2.AsyncClient, make_client: MakeClient) -> None:
    oauth_client, secret = make_client("catalog:write")
    token = await get_token(client, oauth_client, secret)
    response = await client.get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


WRONG = "the client id or secret is wrong"
MISSING = "no client credentials; send the client id and secret with HTTP Basic"


@pytest.mark.parametrize(
    ("credentials", "hint"),
    [
        pytest.param(lambda c, s: basic(c.client_id, s + "x"), WRONG, id="wrong secret"),
        pytest.param(lambda c, s: basic("no-such-client", s), WRONG, id="unknown client"),
        pytest.param(lambda c, s: basic(c.client_id, ""), MISSING, id="empty secret"),
        pytest.param(lambda c, s: {"Authorization": "Basic !!!"}, MISSING, id="malformed header"),
        pytest.param(lambda c, s: {"Authorization": f"Bearer {s}"}, MISSING, id="other scheme"),
        pytest.param(lambda c, s: {}, MISSING, id="no credentials"),
    ],
)
async def test_bad_client_credentials_get_invalid_client(
    client: httpx2.AsyncClient,
    make_client: MakeClient,
    credentials: Callable[..., Any],
    hint: str,
) -> None:
    oauth_client, secret = make_client()

    response = await client.post(
        "/oauth/token", data=GRANT, headers=credentials(oauth_client, secret)
    )

    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    # A refused secret and a missing one need different fixes, so they read differently.
    assert response.json()["error_description"].startswith(hint)


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"\x80\xd9:\xc5").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-without-id").decode(),
        "Basic %%%",  # not base64
        "Basic",
    ],
)
@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
async def test_malformed_basic_credentials_are_an_unknown_client(
    client: httpx2.AsyncClient, endpoint: str, authorization: str
) -> None:
    # Found by fuzzing: bytes that are not UTF-8 in the Basic credentials were a 500.
    response = await client.post(
        endpoint, data={**GRANT, "token": "x"}, headers={"Authorization": authorization}
    )

    assert_oauth_error(response, 401, "invalid_client")


async def test_secret_in_the_body_is_not_accepted(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    oauth_client, secret = make_client()
    response = await client.post(
        "/oauth/token",
        data={**GRANT, "client_id": oauth_client.client_id, "client_secret": secret},
    )
    assert_oauth_error(response, 401, "invalid_client")


async def test_revoked_client_gets_no_token(
    client: httpx2.AsyncClient, make_client: MakeClient, session: Any
) -> None:
    oauth_client, secret = make_client()
    revoke_client(session, oauth_client.client_id)
    session.commit()

    response = await client.post(
        "/oauth/token", data=GRANT, headers=basic(oauth_client.client_id, secret)
    )

    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "grant_type", ["password", "authorization_code", "refresh_token", "implicit", "urn:x"]
)
async def test_other_grants_are_unsupported(
    client: httpx2.AsyncClient, make_client: MakeClient, grant_type: str
) -> None:
    oauth_client, secret = make_client()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": grant_type},
        headers=basic(oauth_client.client_id, secret),
    )
    assert_oauth_error(response, 400, "unsupported_grant_type")


async def test_missing_grant_type_is_invalid_request(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    oauth_client, secret = make_client()
    response = await client.post(
        "/oauth/token",
        data={"scope": "catalog:write"},
        headers=basic(oauth_client.client_id, secret),
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_json_body_is_invalid_request(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    oauth_client, secret = make_client()
    response = await client.post(
        "/oauth/token", json=GRANT, headers=basic(oauth_client.client_id, secret)
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_repeated_parameter_is_invalid_request(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    oauth_client, secret = make_client()
    response = await client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&scope=catalog:write&scope=admin",
        headers={
            **basic(oauth_client.client_id, secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_undecodable_form_is_invalid_request(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    oauth_client, secret = make_client()
    response = await client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&scope=\xff\xfe%ff",
        headers={
            **basic(oauth_client.client_id, secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert_oauth_error(response, 400, "invalid_scope")


async def test_repeated_odd_parameter_name_is_invalid_request(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    oauth_client, secret = make_client()
    response = await client.post(
        "/oauth/token",
        content='grant_type=client_credentials&é"=1&é"=2'.encode(),
        headers={
            **basic(oauth_client.client_id, secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_get_is_not_allowed(client: httpx2.AsyncClient) -> None:
    response = await client.get("/oauth/token")
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (None, "catalog:write sharing:write"),
        ("", "catalog:write sharing:write"),
        ("catalog:write", "catalog:write"),
        ("sharing:write catalog:write", "sharing:write catalog:write"),
        ("catalog:write catalog:write", "catalog:write"),
    ],
)
async def test_scope_is_a_subset_of_the_clients(
    client: httpx2.AsyncClient, make_client: MakeClient, requested: str | None, granted: str
) -> None:
    oauth_client, secret = make_client("catalog:write sharing:write")
    form = {} if requested is None else {"scope": requested}

    response = await client.post(
        "/oauth/token", data={**GRANT, **form}, headers=basic(oauth_client.client_id, secret)
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == granted


@pytest.mark.parametrize("requested", ["admin", "catalog:write admin", "no-such-scope"])
async def test_scope_beyond_the_clients_is_refused(
    client: httpx2.AsyncClient, make_client: MakeClient, requested: str
) -> None:
    oauth_client, secret = make_client("catalog:write sharing:write")
    response = await client.post(
        "/oauth/token",
        data={**GRANT, "scope": requested},
        headers=basic(oauth_client.client_id, secret),
    )
    assert_oauth_error(response, 400, "invalid_scope")


# --- introspection ----------------------------------------------------------------


async def introspect(
    client: httpx2.AsyncClient, caller: tuple[OAuthClient, str], token: str
) -> httpx2.Response:
    return await client.post(
        "/oauth/introspect", data={"token": token}, headers=basic(caller[0].client_id, caller[1])
    )


async def test_introspection_of_own_active_token(
    client: httpx2.AsyncClient, make_client: MakeClient, settings: Settings
) -> None:
    caller = make_client("catalog:write")
    token = await get_token(client, *caller)

    response = await introspect(client, caller, token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == caller[0].client_id
    assert body["scope"] == "catalog:write"
    assert body["iss"] == body["aud"] == settings.issuer
    assert body["token_type"] == "Bearer"
    assert body["exp"] - body["iat"] == settings.access_token_lifetime


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
async def test_introspection_of_invalid_token_is_inactive(
    client: httpx2.AsyncClient, make_client: MakeClient, token: str
) -> None:
    response = await introspect(client, make_client(), token)
    assert response.status_code == 200
    assert response.json() == {"active": False}


async def test_introspection_of_another_clients_token_is_inactive(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    owner = make_client()
    token = await get_token(client, *owner)
    response = await introspect(client, make_client(), token)
    assert response.json() == {"active": False}


async def test_admin_may_introspect_any_token(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    token = await get_token(client, *make_client())
    response = await introspect(client, make_client("admin"), token)
    assert response.json()["active"] is True


async def test_introspection_needs_client_authentication(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    token = await get_token(client, *make_client())
    response = await client.post("/oauth/introspect", data={"token": token})
    assert_oauth_error(response, 401, "invalid_client")


async def test_introspection_without_token_is_invalid_request(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    caller = make_client()
    response = await client.post(
        "/oauth/introspect", data={}, headers=basic(caller[0].client_id, caller[1])
    )
    assert_oauth_error(response, 400, "invalid_request")


async def test_introspection_of_token_of_revoked_client_is_inactive(
    client: httpx2.AsyncClient, make_client: MakeClient, session: Any
) -> None:
    owner = make_client()
    token = await get_token(client, *owner)
    revoke_client(session, owner[0].client_id)
    session.commit()
    response = await introspect(client, make_client("admin"), token)
    assert response.json() == {"active": False}


# --- revocation -------------------------------------------------------------------


async def revoke(
    client: httpx2.AsyncClient, caller: tuple[OAuthClient, str], token: str
) -> httpx2.Response:
    return await client.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        headers=basic(caller[0].client_id, caller[1]),
    )


async def test_revoked_token_stops_working(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    caller = make_client()
    token = await get_token(client, *caller)

    response = await revoke(client, caller, token)

    assert response.status_code == 200, response.text
    assert (await introspect(client, caller, token)).json() == {"active": False}
    api = await client.get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"
    # Revoking twice is fine, and other tokens of the client still work.
    assert (await revoke(client, caller, token)).status_code == 200
    other = await get_token(client, *caller)
    assert (await introspect(client, caller, other)).json()["active"] is True


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
async def test_revoking_an_invalid_token_answers_200(
    client: httpx2.AsyncClient, make_client: MakeClient, token: str
) -> None:
    response = await revoke(client, make_client(), token)
    assert response.status_code == 200


async def test_client_cannot_revoke_another_clients_token(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    owner = make_client()
    token = await get_token(client, *owner)

    response = await revoke(client, make_client(), token)

    assert_oauth_error(response, 400, "invalid_grant")
    assert (await introspect(client, owner, token)).json()["active"] is True


async def test_admin_may_revoke_any_token(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    owner = make_client()
    token = await get_token(client, *owner)
    assert (await revoke(client, make_client("admin"), token)).status_code == 200
    assert (await introspect(client, owner, token)).json() == {"active": False}


async def test_revocation_needs_client_authentication(client: httpx2.AsyncClient) -> None:
    response = await client.post("/oauth/revoke", data={"token": "x"})
    assert_oauth_error(response, 401, "invalid_client")


# --- published documents ----------------------------------------------------------


async def test_jwks_publishes_the_public_signing_key(
    client: httpx2.AsyncClient, app: FastAPI
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert keys == app.state.keys.public_jwks()["keys"]
    assert app.state.keys.current_kid in {k["kid"] for k in keys}
    assert all("d" not in k for k in keys)


async def test_metadata_document(client: httpx2.AsyncClient, settings: Settings) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")

    assert response.status_code == 200
    metadata = response.json()
    issuer = settings.issuer
    assert metadata["issuer"] == issuer
    assert metadata["token_endpoint"] == f"{issuer}/oauth/token"
    assert metadata["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert metadata["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert metadata["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "private_key_jwt",
    ]
    assert metadata["token_endpoint_auth_signing_alg_values_supported"] == ["ES256"]
    assert set(metadata["scopes_supported"]) == {
        "catalog:write",
        "sharing:write",
        "federation:read",
        "federation:write",
        "admin",
    }


async def test_openapi_names_the_oauth_operations(client: httpx2.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "oauth_token",
        "oauth_introspect",
        "oauth_revoke",
        "oauth_jwks",
        "oauth_server_metadata",
    } <= operations
    token = document["paths"]["/oauth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert token["security"] == [{"client_secret_basic": []}]


# --- rotation, end to end ---------------------------------------------------------


@pytest.fixture
async def own_keys_client(
    settings: Settings, connection: sa.Connection, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, httpx2.AsyncClient]]:
    """A node whose keys live in their own directory, so rotating them leaves the
    other tests' keys alone."""
    app = create_app(settings.model_copy(update={"data_dir": tmp_path}), engine=connection)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield app, client


async def test_rotation_keeps_old_tokens_valid(
    own_keys_client: tuple[FastAPI, httpx2.AsyncClient], make_client: MakeClient, tmp_path: Path
) -> None:
    app, client = own_keys_client
    keys_dir = tmp_path / "keys"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys_dir.glob("*.jwk"))
    # Its secret is hashed under the key in this node's own data dir.
    caller = make_client(settings=app.state.settings)
    old_kid = app.state.keys.current_kid
    old_token = await get_token(client, *caller)

    # As `lumbung keys rotate` does, from another process's view of the same directory.
    from registry.oauth.keys import KeyStore

    new_kid = KeyStore.open(keys_dir).rotate(keep_old_for_seconds=600)

    new_token = await get_token(client, *caller)
    assert jws.extract_compact(new_token.encode()).headers()["kid"] == new_kid
    published = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert published == {old_kid, new_kid}
    for token in (old_token, new_token):
        assert (await introspect(client, caller, token)).json()["active"] is True


@pytest.mark.parametrize("hint", ["refresh_token", "id_token", "jenis-lain", ""])
async def test_revocation_ignores_an_unknown_token_type_hint(
    client: httpx2.AsyncClient, make_client: MakeClient, hint: str
) -> None:
    """RFC 7009 §2.1: the server may ignore the hint and search all its token types;
    unsupported_token_type is only for a type it cannot revoke, and it revokes all."""
    caller = make_client("catalog:write")
    token = await get_token(client, *caller)
    response = await client.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": hint},
        headers=basic(caller[0].client_id, caller[1]),
    )
    assert response.status_code == 200, response.text
    assert (await introspect(client, caller, token)).json()["active"] is False


async def test_introspection_ignores_an_unknown_token_type_hint(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    caller = make_client("catalog:write")
    token = await get_token(client, *caller)
    response = await client.post(
        "/oauth/introspect",
        data={"token": token, "token_type_hint": "jenis-lain"},
        headers=basic(caller[0].client_id, caller[1]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True


async def test_revocation_without_a_token_is_invalid_request(
    client: httpx2.AsyncClient, make_client: MakeClient
) -> None:
    caller = make_client("catalog:write")
    response = await client.post(
        "/oauth/revoke",
        data={"token_type_hint": "access_token"},
        headers=basic(caller[0].client_id, caller[1]),
    )
    assert_oauth_error(response, 400, "invalid_request")

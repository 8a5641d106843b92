from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from sqlmodel import Session

from registry.errors import NotFound, ValidationFailed
from registry.oauth import service
from registry.oauth.server import LumbungClient
from registry.settings import Settings


def test_secret_is_stored_as_a_keyed_hash(session: Session, settings: Settings) -> None:
    client, secret = service.create_client(
        session, name="ci", scopes="catalog:write", publisher_id=None, settings=settings
    )
    key = service.secret_hashing_key(settings)
    assert secret is not None
    assert client.secret_hash is not None
    assert secret not in client.secret_hash
    assert client.secret_hash.startswith("hmac-sha256$")
    assert service.check_secret(client.secret_hash, secret, key)
    assert not service.check_secret(client.secret_hash, secret[:-1], key)
    assert not service.check_secret(client.secret_hash, secret, bytes(32))
    assert not service.check_secret(None, secret, key)
    assert not service.check_secret("garbage", secret, key)


def test_the_hashing_key_is_kept_owner_only_in_the_data_dir(settings: Settings) -> None:
    key = service.secret_hashing_key(settings)
    path = settings.data_dir / "client-secret.key"
    assert path.read_bytes() == key
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_old_scrypt_hash_still_verifies_and_is_upgraded_on_use(
    session: Session, settings: Settings
) -> None:
    client, secret = service.create_client(
        session, name="lama", scopes="admin", publisher_id=None, settings=settings
    )
    assert secret is not None
    # As an earlier version stored it.
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = lambda data: base64.urlsafe_b64encode(data).decode().rstrip("=")  # noqa: E731
    client.secret_hash = f"scrypt$16384$8$1${b64(salt)}${b64(digest)}"
    session.add(client)
    session.commit()
    assert service.authenticate_secret(session, settings, client.client_id, "salah") is None
    assert client.secret_hash.startswith("scrypt$")
    assert service.authenticate_secret(session, settings, client.client_id, secret) == client
    session.commit()
    session.refresh(client)
    assert client.secret_hash.startswith("hmac-sha256$")
    assert service.authenticate_secret(session, settings, client.client_id, secret) == client


def test_a_secret_client_cannot_be_made_without_the_hashing_key(session: Session) -> None:
    with pytest.raises(TypeError):
        service.create_client(session, name="x", scopes="admin", publisher_id=None)


def test_scopes_accepted_as_string_or_list(session: Session, settings: Settings) -> None:
    a, _ = service.create_client(
        session,
        name="a",
        scopes="catalog:write  sharing:write",
        publisher_id=None,
        settings=settings,
    )
    b, _ = service.create_client(
        session,
        name="b",
        scopes=["catalog:write", "sharing:write catalog:write"],
        publisher_id=None,
        settings=settings,
    )
    assert a.scope == b.scope == "catalog:write sharing:write"


@pytest.mark.parametrize("scopes", ["catalog:read", "", "admin root", []])
def test_unknown_or_no_scope_is_refused(session: Session, scopes: str | list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create_client(session, name="x", scopes=scopes, publisher_id=None)
    assert caught.value.errors is not None
    assert caught.value.errors[0].loc == ["scope"]


def test_blank_name_is_refused(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="name"):
        service.create_client(session, name="  ", scopes="admin", publisher_id=None)


def test_peer_client_needs_jwks_uri(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="jwks_uri"):
        service.create_client(
            session,
            name="peer",
            scopes="federation:read",
            publisher_id=None,
            auth_method="private_key_jwt",
        )


def test_peer_client_has_no_secret_and_uses_client_assertions(
    session: Session, settings: Settings
) -> None:
    client, secret = service.create_client(
        session,
        name="peer",
        scopes="federation:read federation:write",
        publisher_id=None,
        auth_method="private_key_jwt",
        jwks_uri="https://pariaman.example/.well-known/jwks.json",
        node_id="https://pariaman.example",
    )
    assert secret is None
    assert client.secret_hash is None
    model = LumbungClient(client)
    # authlib names private_key_jwt "client_assertion_jwt".
    assert model.check_endpoint_auth_method("client_assertion_jwt", "token")
    assert not model.check_endpoint_auth_method("client_secret_basic", "token")
    assert service.authenticate_secret(session, settings, client.client_id, "anything") is None


def test_unknown_auth_method_is_refused(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="auth_method"):
        service.create_client(
            session, name="x", scopes="admin", publisher_id=None, auth_method="client_secret_post"
        )


def test_authenticate_secret(session: Session, settings: Settings) -> None:
    client, secret = service.create_client(
        session, name="x", scopes="admin", publisher_id=None, settings=settings
    )
    assert secret is not None
    assert service.authenticate_secret(session, settings, client.client_id, secret) == client
    assert service.authenticate_secret(session, settings, client.client_id, "wrong") is None
    assert service.authenticate_secret(session, settings, "unknown", secret) is None
    service.revoke_client(session, client.client_id)
    assert service.authenticate_secret(session, settings, client.client_id, secret) is None


def test_list_and_revoke(session: Session, settings: Settings) -> None:
    client, _ = service.create_client(
        session, name="x", scopes="admin", publisher_id=None, settings=settings
    )
    assert client in service.list_clients(session)

    revoked = service.revoke_client(session, client.client_id)
    assert revoked.revoked_at is not None
    # Revoking again keeps the first revocation time.
    assert service.revoke_client(session, client.client_id).revoked_at == revoked.revoked_at


def test_revoking_unknown_client_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        service.revoke_client(session, "no-such-client")


@pytest.fixture
def own_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data"})


def test_admin_client_bootstrapped_once(session: Session, own_settings: Settings) -> None:
    for existing in service.list_clients(session):
        if service.is_admin_client(existing) and existing.revoked_at is None:
            service.revoke_client(session, existing.client_id)

    created = service.ensure_admin_client(session, own_settings)

    assert created is not None
    client_id, secret = created
    path = own_settings.admin_client_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = json.loads(path.read_text())
    assert written == {
        "client_id": client_id,
        "client_secret": secret,
        "token_url": f"{own_settings.issuer}/oauth/token",
        "issuer": own_settings.issuer,
    }
    assert service.authenticate_secret(session, own_settings, client_id, secret) is not None
    client = service.get_client(session, client_id)
    assert client is not None
    assert client.scope == "admin"
    assert client.publisher_id is None

    before = path.stat().st_mtime_ns
    assert service.ensure_admin_client(session, own_settings) is None
    assert path.stat().st_mtime_ns == before

    # Once the admin client is revoked, the next start makes a new one.
    service.revoke_client(session, client_id)
    again = service.ensure_admin_client(session, own_settings)
    assert again is not None
    assert again[0] != client_id
    assert json.loads(path.read_text())["client_id"] == again[0]

"""``lumbung client …`` and ``lumbung keys …`` against a node of their own (a SQLite
file in a temporary data directory, chosen through LUMBUNG_* variables as in real use)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry import migrate
from registry.catalog import schemas
from registry.catalog import service as catalog_service
from registry.catalog.cli import client_app
from registry.db import create_db_engine, session_scope
from registry.oauth import service
from registry.oauth.cli import keys_app
from registry.oauth.keys import KeyStore
from registry.settings import Settings, get_settings, load_settings

runner = CliRunner()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("cli-node")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUMBUNG_DATA_DIR", str(data_dir))
        mp.delenv("LUMBUNG_DATABASE_URL", raising=False)
        mp.setenv("LUMBUNG_BASE_URL", "https://lumbung.banyuwangikab.go.id")
        get_settings.cache_clear()
        settings = load_settings()
        migrate.upgrade(settings)
        engine = create_db_engine(settings)
        with session_scope(engine) as session:
            catalog_service.create_publisher(
                session, schemas.PublisherCreate(code="kab-banyuwangi", name="Banyuwangi")
            )
        engine.dispose()
        yield settings
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def fresh_settings(node: Settings) -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_add_client_prints_working_credentials(node: Settings) -> None:
    result = runner.invoke(
        client_app,
        [
            "add",
            "--publisher",
            "kab-banyuwangi",
            "--scope",
            "catalog:write sharing:write",
            "--json",
        ],
    )

    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["publisher"] == "kab-banyuwangi"
    assert created["scope"] == "catalog:write sharing:write"
    assert created["token_url"] == "https://lumbung.banyuwangikab.go.id/oauth/token"
    engine = create_db_engine(node)
    with session_scope(engine) as session:
        client = service.authenticate_secret(
            session, node, created["client_id"], created["client_secret"]
        )
        assert client is not None
        assert client.publisher_id is not None
    engine.dispose()


def test_add_client_plain_output(node: Settings) -> None:
    result = runner.invoke(
        client_app,
        ["add", "--publisher", "kab-banyuwangi", "--scope", "catalog:write", "--name", "CI"],
    )
    assert result.exit_code == 0, result.output
    assert "client_id:" in result.stdout
    assert "client_secret:" in result.stdout
    assert "not shown again" in result.stdout


def test_add_client_for_unknown_publisher_fails(node: Settings) -> None:
    result = runner.invoke(
        client_app, ["add", "--publisher", "kota-atlantis", "--scope", "catalog:write"]
    )
    assert result.exit_code == 1
    assert "kota-atlantis" in result.stderr


def test_add_client_with_unknown_scope_fails(node: Settings) -> None:
    result = runner.invoke(
        client_app, ["add", "--publisher", "kab-banyuwangi", "--scope", "catalog:read"]
    )
    assert result.exit_code == 1
    assert "unknown scope catalog:read" in result.stderr


def test_publisher_scopes_need_a_publisher(node: Settings) -> None:
    result = runner.invoke(client_app, ["add", "--scope", "catalog:write"])
    assert result.exit_code == 1
    assert "--publisher" in result.stderr


def test_list_clients(node: Settings) -> None:
    added = json.loads(
        runner.invoke(client_app, ["add", "--scope", "admin", "--name", "ops", "--json"]).stdout
    )

    as_json = runner.invoke(client_app, ["list", "--json"])
    table = runner.invoke(client_app, ["list"])

    assert as_json.exit_code == 0, as_json.output
    rows = {row["client_id"]: row for row in json.loads(as_json.stdout)}
    assert rows[added["client_id"]]["name"] == "ops"
    assert rows[added["client_id"]]["revoked_at"] is None
    assert "client_secret" not in rows[added["client_id"]]
    assert table.exit_code == 0, table.output
    assert added["client_id"] in table.stdout


def test_revoke_client(node: Settings) -> None:
    added = json.loads(runner.invoke(client_app, ["add", "--scope", "admin", "--json"]).stdout)

    result = runner.invoke(client_app, ["revoke", added["client_id"]])
    again = runner.invoke(client_app, ["revoke", added["client_id"]])

    assert result.exit_code == 0, result.output
    assert "Revoked" in result.stdout
    assert again.exit_code == 0
    assert "already revoked" in again.stdout
    rows = {
        r["client_id"]: r for r in json.loads(runner.invoke(client_app, ["list", "--json"]).stdout)
    }
    assert rows[added["client_id"]]["revoked_at"] is not None


def test_revoke_unknown_client_fails(node: Settings) -> None:
    result = runner.invoke(client_app, ["revoke", "no-such-client"])
    assert result.exit_code == 1
    assert "no-such-client" in result.stderr


def test_bad_settings_exit_2(node: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMBUNG_ACCESS_TOKEN_LIFETIME", "86400")
    result = runner.invoke(client_app, ["list"])
    assert result.exit_code == 2
    assert "LUMBUNG_ACCESS_TOKEN_LIFETIME" in result.stderr


def test_new_database_is_created_and_an_old_one_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMBUNG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LUMBUNG_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    created = runner.invoke(client_app, ["list"])
    assert created.exit_code == 0, created.output
    assert "created the node's database" in created.stderr

    migrate.downgrade(get_settings(), "base")
    behind = runner.invoke(client_app, ["list"])
    assert behind.exit_code == 1
    assert "lumbung db upgrade" in behind.stderr


def test_keys_rotate(node: Settings) -> None:
    before = KeyStore.open(node.keys_dir).current_kid

    result = runner.invoke(keys_app, ["rotate"])

    assert result.exit_code == 0, result.output
    store = KeyStore.open(node.keys_dir)
    assert store.current_kid != before
    assert store.current_kid in result.stdout
    assert f"Previous key {before} stays published until" in result.stdout
    assert {k["kid"] for k in store.public_jwks()["keys"]} >= {before, store.current_kid}


def test_keys_rotate_refuses_grace_shorter_than_token_lifetime(node: Settings) -> None:
    before = KeyStore.open(node.keys_dir).current_kid
    result = runner.invoke(keys_app, ["rotate", "--keep-old-for", "10"])
    assert result.exit_code == 1
    assert "--keep-old-for" in result.stderr
    assert KeyStore.open(node.keys_dir).current_kid == before


def test_keys_list(node: Settings) -> None:
    result = runner.invoke(keys_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["kid"] for r in rows if r["current"]] == [KeyStore.open(node.keys_dir).current_kid]
    assert runner.invoke(keys_app, ["list"]).exit_code == 0


def test_client_ids_never_start_with_a_dash(node: Settings) -> None:
    """About one id in 64 did, and the command line then read it as an option."""
    engine = create_db_engine(node)
    with engine.connect() as connection, connection.begin() as transaction:
        with session_scope(connection) as session:
            ids = [
                service.create_client(
                    session, name="x", scopes="admin", publisher_id=None, settings=node
                )[0].client_id
                for _ in range(1000)
            ]
        transaction.rollback()
    engine.dispose()
    assert [i for i in ids if i.startswith("-")] == []


def test_an_id_starting_with_a_dash_is_accepted_after_double_dash(node: Settings) -> None:
    """Clients made by earlier versions may have such ids."""
    engine = create_db_engine(node)
    with session_scope(engine) as session:
        client, _ = service.create_client(
            session, name="lama", scopes="admin", publisher_id=None, settings=node
        )
        client.client_id = "-Lama-" + client.client_id[6:]
        session.add(client)
    engine.dispose()
    mistaken = runner.invoke(client_app, ["revoke", client.client_id])
    assert mistaken.exit_code == 2
    result = runner.invoke(client_app, ["revoke", "--", client.client_id])
    assert result.exit_code == 0, result.output
    assert "Revoked" in result.stdout

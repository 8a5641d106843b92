"""The ``lumbung`` command works on the node's database through the same settings as
``serve``, says clearly what went wrong, and exits non-zero when it did."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from registry.cli import app
from registry.settings import get_settings

runner = CliRunner()


@pytest.fixture
def node_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMBUNG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LUMBUNG_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def lumbung(*args: str):
    return runner.invoke(app, list(args))


def test_bad_setting_is_one_line_naming_the_variable(node_env, monkeypatch):
    monkeypatch.setenv("LUMBUNG_ACCESS_TOKEN_LIFETIME", "900")
    get_settings.cache_clear()
    result = lumbung("db", "current")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "LUMBUNG_ACCESS_TOKEN_LIFETIME" in lines[0]


def test_db_upgrade_current_downgrade(node_env):
    assert lumbung("db", "current").output.startswith("base")
    assert lumbung("db", "upgrade").exit_code == 0
    assert "up to date" in lumbung("db", "current").output
    assert lumbung("db", "downgrade", "base").exit_code == 0
    assert lumbung("db", "current").output.startswith("base")


def test_publisher_add_and_list(node_env):
    lumbung("db", "upgrade")
    added = lumbung(
        "publisher", "add", "kab-banyuwangi", "--name", "Kabupaten Banyuwangi",
        "--kind", "regency", "--region-code", "35.10",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = json.loads(lumbung("publisher", "list", "--json").stdout)
    assert [(p["code"], p["region_code"]) for p in listed] == [("kab-banyuwangi", "35.10")]


def test_duplicate_or_invalid_publisher_fails_clearly(node_env):
    lumbung("db", "upgrade")
    lumbung("publisher", "add", "kota-pariaman", "--name", "Kota Pariaman")
    again = lumbung("publisher", "add", "kota-pariaman", "--name", "Kota Pariaman")
    assert again.exit_code == 1
    assert "kota-pariaman" in again.output
    bad = lumbung("publisher", "add", "Kota Bandung", "--name", "x", "--region-code", "32")
    assert bad.exit_code == 1
    assert "code" in bad.output


def test_artifacts_prune_on_a_new_node(node_env):
    (node_env / "artifacts" / "tmp").mkdir(parents=True)
    leftover = node_env / "artifacts" / "tmp" / "interrupted"
    leftover.write_bytes(b"x" * 10)
    result = lumbung("artifacts", "prune", "--older-than", "0")
    assert result.exit_code == 0, result.output
    assert "removed 1 file(s)" in result.output
    assert not leftover.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["db", "current"],
        ["db", "downgrade", "base"],
        ["client", "list"],
        ["publisher", "list"],
        ["peer", "list"],
    ],
)
def test_an_unreachable_database_is_one_line_for_every_command(node_env, monkeypatch, args):
    # Nothing listens on port 1.
    monkeypatch.setenv("LUMBUNG_DATABASE_URL", "postgresql+psycopg://lumbung@127.0.0.1:1/lumbung")
    get_settings.cache_clear()
    result = lumbung(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "cannot reach the database" in lines[0]
    assert "Traceback" not in result.output


def _adoption_of_a_withdrawn_mirror(settings) -> tuple[str, str]:
    """A local publisher's adoption of an app, whose app then disappears as a mirror
    does when its partnership ends. Returns (adoption id, app id)."""
    from registry.catalog import schemas as catalog_schemas
    from registry.catalog import service as catalog
    from registry.db import create_db_engine, session_scope, utcnow
    from registry.principal import Principal
    from registry.sharing import schemas, service

    admin = Principal(client_id="test-admin", scopes=frozenset({"admin"}))
    engine = create_db_engine(settings)
    try:
        with session_scope(engine) as session:
            catalog.create_publisher(
                session, catalog_schemas.PublisherCreate(code="kota-pariaman", name="Pariaman")
            )
            app = catalog.create_app(
                session,
                admin,
                catalog_schemas.AppCreate(
                    publisher="kota-pariaman", slug="sipandu", name="SIPANDU", visibility="public"
                ),
            )
            adoption = service.create_adoption(
                session,
                admin,
                schemas.AdoptionCreate(app_id=app.id, publisher="kota-pariaman", status="piloting"),
            )
            app.deleted_at = utcnow()
            return str(adoption.id), str(app.id)
    finally:
        engine.dispose()


def test_own_adoption_of_an_app_no_longer_shared_is_listed_and_marked(node_env):
    lumbung("db", "upgrade")
    adoption_id, app_id = _adoption_of_a_withdrawn_mirror(get_settings())

    [row] = json.loads(lumbung("adoption", "list", "--json").stdout)
    assert (row["id"], row["app_id"], row["shared"]) == (adoption_id, app_id, False)

    narrow = runner.invoke(app, ["adoption", "list"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    # At 80 columns the ids stay whole, each on a line, ready to copy.
    assert adoption_id in lines
    assert any(line.split() == ["app", app_id] for line in lines)
    assert "piloting (app no longer shared)" in narrow.output
    assert max(map(len, lines)) <= 80

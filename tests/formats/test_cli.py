"""``lumbung import publiccode`` and ``lumbung export publiccode`` on a node's database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from registry.cli import app
from registry.formats import publiccode
from registry.settings import get_settings
from tests.formats.test_publiccode import GOOD

runner = CliRunner()


@pytest.fixture
def node_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMBUNG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LUMBUNG_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner.invoke(app, ["db", "upgrade"])
    runner.invoke(app, ["publisher", "add", "kab-banyuwangi", "--name", "Kabupaten Banyuwangi"])
    yield tmp_path
    get_settings.cache_clear()


def test_import_file_then_export(node_env):
    source = node_env / "publiccode.yaml"
    source.write_text(GOOD.replace("localisationReady: true", "localisationReady: yes"))
    imported = runner.invoke(
        app, ["import", "publiccode", str(node_env), "--publisher", "kab-banyuwangi", "--json"]
    )
    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.stdout)
    assert report["created"] is True
    assert [i["rule"] for i in report["issues"]] == ["yaml-1.1-boolean"]

    exported = runner.invoke(app, ["export", "publiccode", report["app_id"]])
    assert exported.exit_code == 0, exported.output
    assert publiccode.parse(exported.stdout).document["localisation"]["localisationReady"] is True

    again = runner.invoke(
        app, ["import", "publiccode", str(source), "--publisher", "kab-banyuwangi", "--json"]
    )
    assert json.loads(again.stdout)["app_id"] == report["app_id"]


def test_strict_import_fails_with_every_problem(node_env):
    source = node_env / "publiccode.yml"
    source.write_text(GOOD.replace("localisationReady: true", "localisationReady: yes"))
    result = runner.invoke(
        app, ["import", "publiccode", str(source), "--publisher", "kab-banyuwangi", "--strict"]
    )
    assert result.exit_code == 1
    assert "localisation.localisationReady: error: yaml-1.1-boolean" in result.output
    assert "not imported" in result.output


def test_loopback_url_is_refused(node_env):
    result = runner.invoke(
        app,
        ["import", "publiccode", "http://127.0.0.1:9/publiccode.yml", "--publisher", "x"],
    )
    assert result.exit_code == 1
    assert "non-public address" in result.output


def test_folder_of_files_imports_each_on_its_own(node_env):
    for name, text in {
        "kampung": GOOD,
        "pasar": GOOD.replace("Smart Kampung", "Smart Pasar").replace(
            "smart-kampung", "smart-pasar"
        ),
        "broken": "name: no url\n",
    }.items():
        (node_env / "repos" / name).mkdir(parents=True)
        (node_env / "repos" / name / "publiccode.yml").write_text(text)
    result = runner.invoke(
        app,
        [
            "import",
            "publiccode",
            str(node_env / "repos"),
            "--publisher",
            "kab-banyuwangi",
            "--json",
        ],
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert sorted(e["slug"] for e in report if "slug" in e) == ["smart-kampung", "smart-pasar"]
    rejected = [e for e in report if "rejected" in e]
    assert len(rejected) == 1
    assert rejected[0]["source"].endswith("broken/publiccode.yml")

"""``lumbung-client``, run as a pipeline would run it, and its exit codes."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lumbung_client import App, Client, Publisher
from lumbung_client._cli import EXIT_CODES

from .conftest import FileServer, Node, free_port

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def app(admin: Client, publisher: Publisher) -> App:
    return admin.apps.create(
        publisher=publisher.code, slug="aplikasi-cli", name="CLI", visibility="public"
    )


@pytest.fixture
def writer(node: Node, publisher: Publisher) -> dict[str, str]:
    """Credentials of the publisher's own CI service account."""
    client_id, secret = node.add_client(publisher.code, "catalog:write sharing:write")
    return {"client_id": client_id, "client_secret": secret}


def uploads_supported(admin: Client) -> bool:
    paths = admin._transport.http.get(admin.base_url + "/openapi.json").json()["paths"]
    return "/api/v1/apps/{app_id}/releases/{release_id}/artifacts" in paths


def test_release_create_with_notes(
    run_cli: Run, admin: Client, app: App, writer: dict[str, str], tmp_path: Path
) -> None:
    notes = tmp_path / "CHANGELOG.md"
    notes.write_text("Perbaikan antrean\n", encoding="utf-8")
    result = run_cli("--json", "release", "create", app.ref, "--version", "1.2.0",
                     "--notes", str(notes), **writer)  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["created"] is True
    assert output["release"]["version"] == "1.2.0"
    release = admin.releases.get(app, "1.2.0")
    assert release.notes == "Perbaikan antrean"
    assert release.released_at is not None

    again = run_cli("release", "create", app.ref, "--version", "1.2.0", **writer)
    assert again.returncode == EXIT_CODES["conflict"] == 5
    assert "error:" in again.stderr
    rerun = run_cli("release", "create", app.ref, "--version", "1.2.0", "--exist-ok", **writer)
    assert rerun.returncode == 0, rerun.stderr
    assert "already existed" in rerun.stdout


def test_release_create_with_artifacts_then_pull(
    run_cli: Run, admin: Client, app: App, writer: dict[str, str], tmp_path: Path
) -> None:
    if not uploads_supported(admin):
        pytest.skip("the node does not accept artifact uploads yet")
    first = tmp_path / "aplikasi-1.0.tar.gz"
    first.write_bytes(b"tarball" * 10_000)
    second = tmp_path / "aplikasi-1.0.apk"
    second.write_bytes(b"apk" * 5_000)
    result = run_cli("--json", "release", "create", app.ref, "--version", "1.0",
                     "--artifact", str(first), "--artifact", str(second), **writer)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["uploaded"] == [first.name, second.name]
    artifacts = {a.name: a for a in admin.releases.get(app, "1.0").artifacts}
    assert artifacts[first.name].sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    assert artifacts[second.name].size == second.stat().st_size

    rerun = run_cli("--json", "release", "create", app.ref, "--version", "1.0", "--exist-ok",
                    "--artifact", str(first), **writer)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["uploaded"] == []

    dest = tmp_path / "pulled"
    pulled = run_cli("pull", app.ref, "--dest", str(dest))
    assert pulled.returncode == 0, pulled.stderr
    assert (dest / first.name).read_bytes() == first.read_bytes()
    assert (dest / second.name).read_bytes() == second.read_bytes()


def test_pull(
    run_cli: Run, admin: Client, app: App, file_server: FileServer, tmp_path: Path
) -> None:
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("v1.bin", b"1")])
    admin.releases.create(app, version="2.0", artifacts=[file_server.add("v2.bin", b"22")])
    dest = tmp_path / "srv"
    result = run_cli("--json", "pull", app.ref, "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["release"]["version"] == "2.0"
    assert [(f["name"], f["verified"]) for f in output["files"]] == [("v2.bin", True)]
    assert (dest / "v2.bin").read_bytes() == b"22"

    old = run_cli("pull", str(app.id), "--version", "1.0", "--dest", str(dest))
    assert old.returncode == 0, old.stderr
    assert "pulled 1 artifact(s) of release 1.0" in old.stdout


def test_pull_and_adopt(
    run_cli: Run,
    admin: Client,
    app: App,
    writer: dict[str, str],
    file_server: FileServer,
    tmp_path: Path,
) -> None:
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("pakai.bin", b"1")])
    first = run_cli("--json", "pull", app.ref, "--dest", str(tmp_path), "--adopt", **writer)
    assert first.returncode == 0, first.stderr
    again = run_cli("--json", "pull", app.ref, "--dest", str(tmp_path), "--adopt", **writer)
    assert again.returncode == 0, again.stderr
    adoption = json.loads(first.stdout)["adoption"]
    assert adoption is not None
    assert json.loads(again.stdout)["adoption"] == adoption
    assert [str(a.id) for a in admin.adoptions.list(app=app)] == [adoption]


def test_pull_exit_codes(
    run_cli: Run, admin: Client, app: App, file_server: FileServer, tmp_path: Path
) -> None:
    artifact = file_server.add("asli.bin", b"asli")
    admin.releases.create(app, version="1.0", artifacts=[artifact])

    missing = run_cli("pull", f"{app.publisher}/tidak-ada", "--dest", str(tmp_path))
    assert missing.returncode == EXIT_CODES["not_found"] == 4
    no_version = run_cli("pull", app.ref, "--version", "9.9", "--dest", str(tmp_path))
    assert no_version.returncode == 4

    (file_server.root / "asli.bin").write_bytes(b"palu")
    tampered = run_cli("pull", app.ref, "--dest", str(tmp_path / "out"))
    assert tampered.returncode == EXIT_CODES["mismatch"] == 7
    assert "sha256" in tampered.stderr
    assert not (tmp_path / "out" / "asli.bin").exists()


def test_usage_and_configuration_errors(run_cli: Run, node: Node, app: App) -> None:
    no_command = run_cli()
    assert no_command.returncode == EXIT_CODES["usage"] == 2
    no_file = run_cli("release", "create", app.ref, "--version", "1", "--artifact", "nope.bin")
    assert no_file.returncode == 2
    assert "no such file" in no_file.stderr
    bad_url = run_cli("pull", app.ref, url="ftp://node")
    assert bad_url.returncode == 2
    bad_date = run_cli("release", "create", app.ref, "--version", "1", "--released-at", "kemarin")
    assert bad_date.returncode == 2
    assert "ISO 8601" in bad_date.stderr


def test_refused_credentials_exit_3(run_cli: Run, node: Node, app: App) -> None:
    result = run_cli("release", "create", app.ref, "--version", "1.0",
                     client_id=node.client_id, client_secret="salah")  # fmt: skip
    assert result.returncode == EXIT_CODES["auth"] == 3
    assert "salah" not in result.stderr
    assert "client id or secret is wrong" in result.stderr
    anonymous = run_cli("release", "create", app.ref, "--version", "1.0")
    assert anonymous.returncode == 3


def test_invalid_version_exits_6(run_cli: Run, app: App, writer: dict[str, str]) -> None:
    result = run_cli("release", "create", app.ref, "--version", "versi baru!", **writer)
    assert result.returncode == EXIT_CODES["invalid"] == 6
    assert "version" in result.stderr


def test_unreachable_node_exits_8(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("pull", "kab-banyuwangi/x", url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == EXIT_CODES["unavailable"] == 8


def test_app_create_update_and_list(
    run_cli: Run,
    admin: Client,
    publisher: Publisher,
    writer: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a city's CI needs to keep its catalog entry current."""
    data = tmp_path / "app.json"
    data.write_text(json.dumps({"platforms": ["web"], "tags": ["antrean"]}), encoding="utf-8")
    created = run_cli("app", "create", "--slug", "antrean", "--name", "Antrean",
                      "--visibility", "public", "--category", "health",
                      "--summary", "id=Antrean puskesmas", "--data", str(data), "--json",
                      **writer)  # fmt: skip
    assert created.returncode == 0, created.stderr
    app = admin.apps.get(json.loads(created.stdout)["id"])
    assert (app.ref, app.visibility, app.categories) == (
        f"{publisher.code}/antrean",
        "public",
        ["health"],
    )
    assert app.description["id"].short_description == "Antrean puskesmas"
    assert app.platforms == ["web"]

    updated = run_cli("app", "update", app.ref, "--development-status", "stable", **writer)
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.strip() == f"app {app.ref} updated"
    assert admin.apps.get(app.id).development_status == "stable"

    listed = run_cli("app", "list", "--publisher", publisher.code, "--json")
    assert [a["id"] for a in json.loads(listed.stdout)] == [str(app.id)]
    monkeypatch.setenv("COLUMNS", "80")
    table = run_cli("app", "list", "--publisher", publisher.code)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert str(app.id) in lines  # whole, on a line of its own, ready to copy
    assert max(map(len, lines)) <= 80

    again = run_cli("app", "create", "--slug", "antrean", "--name", "Lagi", **writer)
    assert again.returncode == EXIT_CODES["conflict"]
    nothing = run_cli("app", "update", app.ref, **writer)
    assert nothing.returncode == EXIT_CODES["usage"]
    assert "nothing to change" in nothing.stderr
    missing = run_cli("app", "update", f"{publisher.code}/tidak-ada", "--name", "X", **writer)
    assert missing.returncode == EXIT_CODES["not_found"]


def test_dataset_create(
    run_cli: Run, admin: Client, publisher: Publisher, writer: dict[str, str]
) -> None:
    url = "https://data.example.go.id/penduduk.csv"
    created = run_cli("dataset", "create", "--slug", "penduduk",
                      "--title", "id=Jumlah Penduduk", "--title", "en=Population",
                      "--keyword", "kependudukan", "--visibility", "public",
                      "--distribution", url, **writer)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert f"dataset {publisher.code}/penduduk created" in created.stdout
    dataset = admin.datasets.get(f"{publisher.code}/penduduk")
    assert dataset.title == {"id": "Jumlah Penduduk", "en": "Population"}
    assert [d.access_url for d in admin.distributions.list(dataset)] == [url]

    plain = run_cli("dataset", "create", "--slug", "lain", "--title", "Penduduk", **writer)
    assert plain.returncode == EXIT_CODES["usage"]
    assert "LANG=TEXT" in plain.stderr
    refused = run_cli("dataset", "create", "--slug", "Bukan Slug", "--title", "id=X", **writer)
    assert refused.returncode == EXIT_CODES["invalid"]
    assert "slug" in refused.stderr


def test_search(
    run_cli: Run, admin: Client, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = admin.apps.create(
        publisher=publisher.code, slug="lapor-jalan", name="Lapor Jalan Rusak", visibility="public"
    )
    found = run_cli("search", "jalan rusak", "--kind", "app",
                    "--filter", f"publisher={publisher.code}", "--json")  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert [(h["id"], h["kind"]) for h in json.loads(found.stdout)] == [(str(app.id), "app")]
    monkeypatch.setenv("COLUMNS", "80")
    table = run_cli("search", "jalan rusak", "--filter", f"publisher={publisher.code}")
    assert str(app.id) in table.stdout.splitlines()
    bad = run_cli("search", "--filter", "publisher")
    assert bad.returncode == EXIT_CODES["usage"]

"""The examples in ``clients/python/examples`` run against a real node, and
``docs/sdk.md`` shows them exactly as they are."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from lumbung_client import Client, Publisher

from .conftest import FileServer, Node

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "clients" / "python" / "examples"
DOC = ROOT / "docs" / "sdk.md"
TESTED = {
    "list_apps.py",
    "publish_release.py",
    "pull_release.py",
    "update_app.py",
    "async_inventory.py",
    "used_by.py",
    "quickstart.py",
    "register_dataset.py",
}
README = ROOT / "README.md"


def run_example(
    node: Node, name: str, *args: str, credentials: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
    env["LUMBUNG_URL"] = node.url
    if credentials:
        env["LUMBUNG_CLIENT_ID"] = node.client_id
        env["LUMBUNG_CLIENT_SECRET"] = node.client_secret
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_used_by(node: Node, admin: Client, publisher: Publisher, unique: str) -> None:
    app = admin.apps.create(
        publisher=publisher.code, slug="dipakai", name="Dipakai", visibility="public"
    )
    user = admin.publishers.create(code=f"kota-pemakai-{unique}", name="Kota Pemakai")
    admin.adoptions.create(app_id=app.id, publisher=user.code, version="2.0", status="production")
    result = run_example(node, "used_by.py", app.ref)
    assert result.returncode == 0, result.stderr
    assert "Kota Pemakai" in result.stdout
    assert "production" in result.stdout


def test_docs_code_blocks_are_valid_python() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for block in blocks:
        compile(block, "docs/sdk.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_every_example_has_a_test() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} == TESTED


def test_docs_show_the_example_files_verbatim() -> None:
    # The quickstart is shown in the README, the others in docs/sdk.md.
    text = DOC.read_text() + README.read_text()
    shown = re.findall(r"<!-- example: (\S+) -->\n```python\n(.*?)```", text, re.S)
    assert {Path(path).name for path, _ in shown} == TESTED
    for path, code in shown:
        assert code == (ROOT / path).read_text(), f"docs/sdk.md shows an old {path}"


def test_list_apps(node: Node, admin: Client, publisher: Publisher) -> None:
    app = admin.apps.create(
        publisher=publisher.code,
        slug="puskesmas-online",
        name="Puskesmas Online",
        categories=["health"],
        visibility="public",
    )
    admin.releases.create(app, version="3.1.0")
    result = run_example(node, "list_apps.py", "health")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if app.ref in line)
    assert "3.1.0" in line


def test_publish_release(
    node: Node, admin: Client, publisher: Publisher, file_server: FileServer
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="terbit", name="Terbit")
    artifact = file_server.add("terbit-2.5.0.tar.gz", b"source code" * 100)
    result = run_example(
        node, "publish_release.py", app.ref, "2.5.0", artifact["url"], credentials=True
    )
    assert result.returncode == 0, result.stderr
    assert "published" in result.stdout
    [declared] = admin.releases.get(app, "2.5.0").artifacts
    assert declared.sha256 == artifact["sha256"]
    assert declared.size == artifact["size"]

    again = run_example(
        node, "publish_release.py", app.ref, "2.5.0", artifact["url"], credentials=True
    )
    assert again.returncode == 1
    assert "already has a release" in again.stderr


def test_pull_release(
    node: Node, admin: Client, publisher: Publisher, file_server: FileServer, tmp_path: Path
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="tarik", name="T", visibility="public")
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("tarik.zip", b"zip")])
    result = run_example(node, "pull_release.py", app.ref, str(tmp_path / "deploy"))
    assert result.returncode == 0, result.stderr
    assert "tarik.zip: 3 bytes" in result.stdout
    assert (tmp_path / "deploy" / "tarik.zip").read_bytes() == b"zip"

    (file_server.root / "tarik.zip").write_bytes(b"zap")
    (tmp_path / "deploy" / "tarik.zip").unlink()
    tampered = run_example(node, "pull_release.py", app.ref, str(tmp_path / "deploy"))
    assert tampered.returncode == 1
    assert "refusing to deploy" in tampered.stderr
    assert list((tmp_path / "deploy").iterdir()) == []


def test_quickstart_as_the_readme_shows_it(node: Node, admin: Client, unique: str) -> None:
    """The README's example, run as written with a city's own client."""
    city = admin.publishers.create(code=f"kota-padang-{unique}", name="Kota Padang")
    client_id, client_secret = node.add_client(city.code, "catalog:write sharing:write")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
    env |= {
        "LUMBUNG_URL": node.url,
        "LUMBUNG_CLIENT_ID": client_id,
        "LUMBUNG_CLIENT_SECRET": client_secret,
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"found {city.code}/antrean-online Antrean Online" in result.stdout
    assert "pulled antrean-online-1.0.0.tar.gz 48 bytes" in result.stdout
    [release] = admin.releases.list(f"{city.code}/antrean-online")
    assert release.artifacts[0].size == 48


def test_update_app(node: Node, admin: Client, publisher: Publisher) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="ubah", name="Ubah")
    result = run_example(node, "update_app.py", app.ref, "stable", credentials=True)
    assert result.returncode == 0, result.stderr
    assert f"{app.ref} is now stable" in result.stdout
    refused = run_example(node, "update_app.py", app.ref, "finished", credentials=True)
    assert refused.returncode == 1
    assert refused.stderr.startswith("development_status:")


def test_async_inventory(node: Node, admin: Client, publisher: Publisher) -> None:
    admin.apps.create(publisher=publisher.code, slug="satu", name="Satu", visibility="public")
    result = run_example(node, "async_inventory.py")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if publisher.code in line)
    assert re.search(r"\b1 apps\s+0 datasets", line), line


def test_register_dataset(node: Node, admin: Client, unique: str) -> None:
    city = admin.publishers.create(code=f"kota-solok-{unique}", name="Kota Solok")
    client_id, client_secret = node.add_client(city.code, "catalog:write")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
    env |= {
        "LUMBUNG_URL": node.url,
        "LUMBUNG_CLIENT_ID": client_id,
        "LUMBUNG_CLIENT_SECRET": client_secret,
    }
    args = [sys.executable, str(EXAMPLES / "register_dataset.py"), "penduduk", CSV]
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert f"registered {city.code}/penduduk: Jumlah Penduduk per Kecamatan" in result.stdout
    dataset = admin.datasets.get(f"{city.code}/penduduk")
    assert dataset.title["en"] == "Population by District"
    assert [d.access_url for d in admin.distributions.list(dataset)] == [CSV]

    again = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 1
    assert "already has a dataset 'penduduk'" in again.stderr


CSV = "https://data.solokkota.example.go.id/penduduk.csv"

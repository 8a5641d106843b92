"""publiccode.yml through the SDK and ``lumbung-client import``, against a real node."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lumbung_client import Client, ImportReport, Publisher, ValidationFailed

from .conftest import Node

GOOD = (Path(__file__).resolve().parents[1] / "formats" / "test_publiccode.py").read_text()
GOOD = GOOD.split('GOOD = """\\\n', 1)[1].split('"""', 1)[0]


def test_import_then_reimport_then_export(admin: Client, publisher: Publisher, unique: str) -> None:
    text = GOOD.replace("smart-kampung", f"smart-kampung-{unique}")
    first = admin.apps.import_publiccode(text.encode(), publisher=publisher.code)
    assert isinstance(first, ImportReport)
    assert first.created
    assert first.issues == []
    again = admin.apps.import_publiccode(
        text.replace("developmentStatus: stable", "developmentStatus: beta").encode(),
        publisher=publisher.code,
    )
    assert not again.created
    assert again.app.id == first.app.id
    assert again.app.development_status == "beta"
    exported = admin.apps.export_publiccode(first.app)
    assert 'publiccodeYmlVersion: "0"' in exported or "publiccodeYmlVersion: '0'" in exported
    assert "developmentStatus: beta" in exported


def test_strict_refusal_names_each_key(admin: Client, publisher: Publisher, unique: str) -> None:
    text = GOOD.replace("smart-kampung", f"strict-{unique}").replace(
        "localisationReady: true", "localisationReady: yes"
    )
    with pytest.raises(ValidationFailed) as refused:
        admin.apps.import_publiccode(text.encode(), publisher=publisher.code, strict=True)
    assert ["publiccode", "localisation", "localisationReady"] in [
        e.loc for e in refused.value.errors
    ]
    lenient = admin.apps.import_publiccode(text.encode(), publisher=publisher.code)
    assert [i.rule for i in lenient.issues] == ["yaml-1.1-boolean"]


async def test_async_import(node: Node, publisher: Publisher, unique: str) -> None:
    async with node.async_admin() as client:
        report = await client.apps.import_publiccode(
            GOOD.replace("smart-kampung", f"async-{unique}").encode(), publisher=publisher.code
        )
        assert report.created
        assert "Smart Kampung" in await client.apps.export_publiccode(report.app.id)


def test_cli_import(node: Node, publisher: Publisher, unique: str, tmp_path: Path) -> None:
    client_id, secret = node.add_client(publisher.code, "catalog:write")
    source = tmp_path / "publiccode.yml"
    source.write_text(GOOD.replace("smart-kampung", f"cli-{unique}"))
    env = {"LUMBUNG_URL": node.url, "LUMBUNG_CLIENT_ID": client_id,
           "LUMBUNG_CLIENT_SECRET": secret, "PATH": ""}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "lumbung_client", "--json", "import", str(source)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] is True
    source.write_text("name: no url\n")
    refused = subprocess.run(
        [sys.executable, "-m", "lumbung_client", "import", str(source)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 6, refused.stderr
    assert "url" in refused.stderr

"""``apps.pull``: streamed, verified, atomic downloads of a release's artifacts."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from lumbung_client import App, ArtifactMismatch, Client, Conflict, NotFound, Publisher, Retry

from .conftest import FileServer, Node


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "unduhan"


@pytest.fixture
def app(admin: Client, publisher: Publisher) -> App:
    return admin.apps.create(
        publisher=publisher.code, slug="aplikasi-tarik", name="Tarik", visibility="public"
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int | None]] = []

    def start(self, name: str, total: int | None) -> None:
        self.events.append(("start", name, total))

    def advance(self, name: str, amount: int) -> None:
        self.events.append(("advance", name, amount))

    def finish(self, name: str) -> None:
        self.events.append(("finish", name, None))


def test_pull_newest_release_verifies_every_file(
    node: Node, admin: Client, app: App, file_server: FileServer, dest: Path
) -> None:
    old = file_server.add("tarik-1.0.tar.gz", b"versi lama")
    big = os.urandom(1_500_000)
    artifacts = [file_server.add("tarik-2.0.tar.gz", big), file_server.add("tarik-2.0.apk", b"apk")]
    admin.releases.create(app, version="1.0", released_at="2025-01-01T00:00:00Z", artifacts=[old])
    admin.releases.create(
        app, version="2.0", released_at="2025-06-01T00:00:00Z", artifacts=artifacts
    )

    progress = Recorder()
    with Client(node.url) as anonymous:
        result = anonymous.apps.pull(app.ref, dest=dest, progress=progress)

    assert result.release.version == "2.0"
    assert [f.name for f in result.files] == ["tarik-2.0.tar.gz", "tarik-2.0.apk"]
    assert all(f.verified and not f.reused for f in result.files)
    assert (dest / "tarik-2.0.tar.gz").read_bytes() == big
    assert result.files[0].sha256 == hashlib.sha256(big).hexdigest()
    assert sorted(p.name for p in dest.iterdir()) == [
        "tarik-2.0.apk",
        "tarik-2.0.tar.gz",
    ]
    assert ("start", "tarik-2.0.tar.gz", len(big)) in progress.events
    assert sum(
        n or 0 for e, name, n in progress.events if e == "advance" and name == "tarik-2.0.tar.gz"
    ) == len(big)  # noqa: E501
    assert result.adoption is None


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_pulled_files_follow_the_umask(
    admin: Client, app: App, file_server: FileServer, dest: Path, umask: int
) -> None:
    """A web server user must be able to read what a deployment pulled, as with any
    file the operator creates: the mode comes from the umask, not from a temp file."""
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("izin.tar.gz", b"isi")])
    old = os.umask(umask)
    try:
        admin.apps.pull(app.ref, dest=dest)
    finally:
        os.umask(old)
    assert stat.S_IMODE((dest / "izin.tar.gz").stat().st_mode) == 0o666 & ~umask


def test_pull_a_given_version(admin: Client, app: App, file_server: FileServer, dest: Path) -> None:
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("a-1.0", b"1")])
    admin.releases.create(app, version="1.1", artifacts=[file_server.add("a-1.1", b"2")])
    result = admin.apps.pull(app, version="1.0", dest=dest)
    assert [f.path.read_bytes() for f in result.files] == [b"1"]
    with pytest.raises(NotFound):
        admin.apps.pull(app, version="9.9", dest=dest)


def test_checksum_mismatch_leaves_nothing_behind(
    admin: Client, app: App, file_server: FileServer, dest: Path
) -> None:
    artifact = file_server.add("rusak.bin", b"isi asli")
    (file_server.root / "rusak.bin").write_bytes(b"isi palu")  # same size, other bytes
    admin.releases.create(app, version="1.0", artifacts=[artifact])
    with pytest.raises(ArtifactMismatch) as caught:
        admin.apps.pull(app, dest=dest)
    assert caught.value.what == "sha256"
    assert list(dest.iterdir()) == []


def test_size_mismatch_is_refused(
    admin: Client, app: App, file_server: FileServer, dest: Path
) -> None:
    artifact = file_server.add("panjang.bin", b"12345")
    (file_server.root / "panjang.bin").write_bytes(b"1234567890")
    admin.releases.create(app, version="1.0", artifacts=[artifact])
    with pytest.raises(ArtifactMismatch) as caught:
        admin.apps.pull(app, dest=dest)
    assert caught.value.what == "size"
    assert list(dest.iterdir()) == []


def test_an_existing_good_file_is_kept_and_a_bad_one_replaced(
    admin: Client, app: App, file_server: FileServer, dest: Path
) -> None:
    dest.mkdir()
    good = file_server.add("baik.bin", b"baik")
    stale = file_server.add("basi.bin", b"baru")
    admin.releases.create(app, version="1.0", artifacts=[good, stale])
    (dest / "baik.bin").write_bytes(b"baik")
    (dest / "basi.bin").write_bytes(b"lama")
    result = admin.apps.pull(app, dest=dest)
    assert [f.reused for f in result.files] == [True, False]
    assert (dest / "basi.bin").read_bytes() == b"baru"
    assert [r["path"] for r in file_server.requests] == ["/basi.bin"]


def test_a_broken_download_restarts(
    node: Node, admin: Client, app: App, file_server: FileServer, dest: Path
) -> None:
    content = os.urandom(400_000)
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("putus.bin", content)])
    file_server.truncate["putus.bin"] = 2
    progress = Recorder()
    with Client(node.url, retry=Retry(backoff=0.01)) as client:
        result = client.apps.pull(app, dest=dest, progress=progress)
    assert result.files[0].path.read_bytes() == content
    assert [e for e in progress.events if e[0] == "start"] == [("start", "putus.bin", 400_000)] * 3
    assert [p.name for p in dest.iterdir()] == ["putus.bin"]


def test_tokens_are_not_sent_to_other_hosts(
    admin: Client, app: App, file_server: FileServer, dest: Path
) -> None:
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("luar.bin", b"x")])
    admin.apps.pull(app, dest=dest)
    assert file_server.requests
    assert all("Authorization" not in r for r in file_server.requests)


def test_artifact_names_cannot_escape_the_destination(
    admin: Client, app: App, file_server: FileServer, dest: Path
) -> None:
    # The node refuses such names; an older or hostile node might not.
    from lumbung_client._transfer import safe_name

    for name in ("../etc/passwd", "a/b", "..", "", "a\\b"):
        with pytest.raises(ArtifactMismatch):
            safe_name(name)
    assert safe_name("aplikasi-1.0.tar.gz") == "aplikasi-1.0.tar.gz"


def test_pull_with_adopt_records_an_adoption(
    node: Node, admin: Client, app: App, file_server: FileServer, dest: Path, unique: str
) -> None:
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("adopsi.bin", b"x")])
    adopter = admin.publishers.create(code=f"kota-adopsi-{unique}", name="Kota Adopsi")
    client_id, secret = node.add_client(adopter.code, "sharing:write")
    with Client(node.url, client_id=client_id, client_secret=secret) as city:
        result = city.apps.pull(app.ref, dest=dest, adopt=True)
    assert result.adoption is not None
    assert result.adoption.version == "1.0"
    assert result.adoption.adopter_code == adopter.code
    assert [a.id for a in admin.adoptions.list(app=app)] == [result.adoption.id]

    # Pulling again (a re-run deployment) keeps the one adoption, moved to the new version.
    admin.releases.create(app, version="1.1", artifacts=[file_server.add("adopsi-2.bin", b"y")])
    with Client(node.url, client_id=client_id, client_secret=secret) as city:
        again = city.apps.pull(app.ref, dest=dest, adopt=True)
    assert again.adoption is not None
    assert again.adoption.id == result.adoption.id
    assert again.adoption.version == "1.1"

    on_behalf = admin.apps.pull(app, dest=dest, adopt=True, publisher=adopter.code)
    assert on_behalf.adoption is not None
    assert on_behalf.adoption.id == result.adoption.id
    assert on_behalf.files[0].reused


def test_upload_then_pull_from_the_node(
    node: Node, admin: Client, app: App, tmp_path: Path, dest: Path
) -> None:
    file = tmp_path / "aplikasi-3.0.tar.gz"
    content = os.urandom(300_000)
    file.write_bytes(content)
    release = admin.releases.create(app, version="3.0")
    progress = Recorder()
    release = admin.releases.upload(release, file, progress=progress)
    [artifact] = release.artifacts
    assert artifact.name == file.name
    assert artifact.sha256 == hashlib.sha256(content).hexdigest()
    assert artifact.size == len(content)
    assert artifact.url.startswith(node.url + "/api/v1/apps/")
    assert ("start", file.name, len(content)) in progress.events
    assert progress.events[-1] == ("finish", file.name, None)

    with pytest.raises(Conflict):
        admin.releases.upload(release, file)
    apk = tmp_path / "aplikasi.apk"
    apk.write_bytes(b"apk")
    release = admin.releases.upload(
        "3.0", apk, app=app.ref, media_type="application/vnd.android.package-archive"
    )
    assert [a.name for a in release.artifacts] == [file.name, "aplikasi.apk"]
    assert release.artifacts[1].media_type == "application/vnd.android.package-archive"

    with Client(node.url) as anonymous:
        result = anonymous.apps.pull(app.ref, dest=dest)
    assert (dest / file.name).read_bytes() == content
    assert all(f.verified for f in result.files)


async def test_async_upload(node: Node, admin: Client, app: App, tmp_path: Path) -> None:
    file = tmp_path / "async.bin"
    file.write_bytes(b"isi" * 1000)
    async with node.async_admin() as client:
        release = await client.releases.create(app, version="4.0")
        release = await client.releases.upload(release, file, name="unggah.bin")
        assert [a.name for a in release.artifacts] == ["unggah.bin"]
        await client.apps.pull(app, version="4.0", dest=tmp_path / "out")
    assert (tmp_path / "out" / "unggah.bin").read_bytes() == b"isi" * 1000

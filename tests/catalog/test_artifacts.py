"""Release files: uploaded by the owner, stored once by content, downloaded under the
app's visibility."""

from __future__ import annotations

import base64
import hashlib

import httpx2
import pytest

from registry.app import create_app
from registry.catalog import artifacts

TARBALL = b"smart-kampung 2.5.0\n" * 500


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blobs(settings) -> set[str]:
    root = settings.artifacts_dir / "sha256"
    return {p.parent.name + p.name for p in root.glob("*/*")} if root.exists() else set()


def temp_files(settings) -> list[str]:
    directory = artifacts.tmp_dir(settings)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture
async def world(client, make_publisher, make_app, token_for):
    owner = make_publisher("kab-banyuwangi", kind="regency", region_code="35.10")
    other = make_publisher("kota-pariaman", region_code="13.77")
    app = make_app(owner, "smart-kampung")
    auth = await token_for(owner, "catalog:write")
    release = await client.post(
        f"/api/v1/apps/{app.id}/releases", json={"version": "2.5.0"}, headers=auth
    )
    assert release.status_code == 201, release.text
    return {
        "owner": owner,
        "other": other,
        "app": app,
        "auth": auth,
        "release": release.json(),
        "files": f"/api/v1/apps/{app.id}/releases/{release.json()['id']}/artifacts",
    }


async def upload(client, world, data=TARBALL, name="smart-kampung-2.5.0.tar.gz", **kwargs):
    headers = {"Content-Type": "application/gzip", **world["auth"], **kwargs.pop("headers", {})}
    params = {"name": name, **kwargs.pop("params", {})}
    return await client.post(world["files"], content=data, params=params, headers=headers)


async def test_upload_is_listed_and_downloads_the_same_bytes(client, world, settings):
    response = await upload(client, world)
    assert response.status_code == 201, response.text
    url = f"http://testserver{world['files']}/smart-kampung-2.5.0.tar.gz"
    expected = {
        "name": "smart-kampung-2.5.0.tar.gz",
        "url": url,
        "sha256": sha(TARBALL),
        "size": len(TARBALL),
        "media_type": "application/gzip",
    }
    assert response.json()["artifacts"] == [expected]
    assert response.headers["Location"] == f"{world['files']}/smart-kampung-2.5.0.tar.gz"
    assert response.headers["ETag"] == response.json()["etag"] != world["release"]["etag"]
    read = await client.get(f"/api/v1/apps/{world['app'].id}/releases/{world['release']['id']}")
    assert read.json()["artifacts"] == [expected]
    assert sha(TARBALL) in blobs(settings)
    assert temp_files(settings) == []

    download = await client.get(url)  # anonymous: the app is public
    assert download.status_code == 200
    assert download.content == TARBALL
    assert download.headers["content-type"] == "application/gzip"
    assert download.headers["content-length"] == str(len(TARBALL))
    assert download.headers["etag"] == f'"{sha(TARBALL)}"'
    digest = base64.b64encode(hashlib.sha256(TARBALL).digest()).decode()
    assert download.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert download.headers["content-disposition"] == (
        'attachment; filename="smart-kampung-2.5.0.tar.gz"'
    )


async def test_download_supports_range_head_and_if_none_match(client, world):
    assert (await upload(client, world)).status_code == 201
    url = f"{world['files']}/smart-kampung-2.5.0.tar.gz"
    part = await client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == TARBALL[10:20]
    head = await client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(TARBALL))
    same = await client.get(url, headers={"If-None-Match": f'"{sha(TARBALL)}"'})
    assert same.status_code == 304


async def test_multipart_upload(client, world):
    response = await client.post(
        world["files"],
        params={"name": "panduan.pdf"},
        files={"file": ("panduan.pdf", b"%PDF-1.7 panduan", "application/pdf")},
        headers=world["auth"],
    )
    assert response.status_code == 201, response.text
    [artifact] = response.json()["artifacts"]
    assert artifact["media_type"] == "application/pdf"
    assert artifact["sha256"] == sha(b"%PDF-1.7 panduan")
    download = await client.get(f"{world['files']}/panduan.pdf")
    assert download.content == b"%PDF-1.7 panduan"


async def test_multipart_needs_exactly_one_file_part(client, world):
    response = await client.post(
        world["files"],
        params={"name": "panduan.pdf"},
        data={"catatan": "x"},
        files={"berkas": ("panduan.pdf", b"%PDF", "application/pdf")},
        headers=world["auth"],
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversize_is_413_and_stores_nothing(
    client, world, settings, connection, session, chunked
):
    small = create_app(settings.model_copy(update={"max_upload_bytes": 2048}), engine=connection)
    before = blobs(settings)
    data = b"x" * 5000

    async def body():
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    transport = httpx2.ASGITransport(app=small)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.post(
            world["files"],
            content=body() if chunked else data,
            params={"name": "besar.bin"},
            headers={"Content-Type": "application/octet-stream", **world["auth"]},
        )
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
        release = await c.get(f"/api/v1/apps/{world['app'].id}/releases/{world['release']['id']}")
    assert release.json()["artifacts"] == []
    assert release.json()["etag"] == world["release"]["etag"]
    assert blobs(settings) == before
    assert temp_files(settings) == []


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Repr-Digest", "sha-256=:{b64}:"),
        ("Content-Digest", "sha-256=:{b64}:"),
        ("Digest", "SHA-256={b64}"),
    ],
)
async def test_announced_digest_is_checked(client, world, settings, header, value):
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    refused = await upload(client, world, headers={header: value.format(b64=wrong)})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["header", header]
    assert temp_files(settings) == []
    right = base64.b64encode(hashlib.sha256(TARBALL).digest()).decode()
    accepted = await upload(client, world, headers={header: value.format(b64=right)})
    assert accepted.status_code == 201, accepted.text


async def test_sha256_query_mismatch_is_422(client, world, settings):
    before = blobs(settings)
    refused = await upload(client, world, data=b"isi berkas", params={"sha256": sha(b"lain")})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["query", "sha256"]
    assert blobs(settings) == before
    assert temp_files(settings) == []
    accepted = await upload(client, world, params={"sha256": sha(TARBALL)})
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize("name", ["../x", "", "..", "a/b", "x" * 201])
async def test_bad_name_is_422(client, world, name):
    response = await upload(client, world, name=name)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "name"]


async def test_name_is_required(client, world):
    response = await client.post(world["files"], content=b"x", headers=world["auth"])
    assert response.status_code == 422


async def test_bad_media_type_is_422(client, world):
    response = await upload(client, world, headers={"Content-Type": "not a type"})
    assert response.status_code == 422, response.text


async def test_duplicate_name_is_409(client, world):
    assert (await upload(client, world)).status_code == 201
    again = await upload(client, world, data=b"versi lain")
    assert again.status_code == 409, again.text
    assert "smart-kampung-2.5.0.tar.gz" in again.json()["detail"]


async def test_retry_with_the_same_idempotency_key_replays(client, world):
    key = {"Idempotency-Key": "unggah-1", "If-Match": world["release"]["etag"]}
    first = await upload(client, world, headers=key)
    assert first.status_code == 201, first.text
    retry = await upload(client, world, headers=key)
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    other_file = await upload(client, world, data=b"lain", headers=key)
    assert other_file.status_code == 422


async def test_stale_if_match_is_412(client, world):
    response = await upload(client, world, headers={"If-Match": '"1"'})
    assert response.status_code == 412
    fresh = await upload(client, world, headers={"If-Match": world["release"]["etag"]})
    assert fresh.status_code == 201, fresh.text


async def test_other_publisher_is_403_and_anonymous_401(client, world, token_for):
    other = await token_for(world["other"], "catalog:write")
    forbidden = await upload(client, world, headers=other)
    assert forbidden.status_code == 403
    anonymous = await client.post(world["files"], content=TARBALL, params={"name": "a.tar.gz"})
    assert anonymous.status_code == 401


async def test_mirror_is_read_only(client, world, session):
    app = world["app"]
    app.origin = "https://lumbung.pariamankota.example"
    session.add(app)
    session.commit()
    response = await upload(client, world)
    assert response.status_code == 409
    assert "https://lumbung.pariamankota.example" in response.json()["detail"]


async def test_private_app_files_follow_its_visibility(client, make_app, world, token_for):
    app = make_app(world["owner"], "arsip-dinas", visibility="private")
    auth = world["auth"]
    release = (
        await client.post(f"/api/v1/apps/{app.id}/releases", json={"version": "1.0"}, headers=auth)
    ).json()
    files = f"/api/v1/apps/{app.id}/releases/{release['id']}/artifacts"
    uploaded = await client.post(
        files, content=b"rahasia", params={"name": "arsip.zip"}, headers=auth
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (await client.get(f"{files}/arsip.zip")).status_code == 404
    other = await token_for(world["other"], "catalog:write")
    assert (await client.get(f"{files}/arsip.zip", headers=other)).status_code == 404
    owner_read = await client.get(f"{files}/arsip.zip", headers=auth)
    assert owner_read.status_code == 200
    assert owner_read.content == b"rahasia"


async def test_same_bytes_in_two_releases_share_one_blob(client, world, settings):
    second = await client.post(
        f"/api/v1/apps/{world['app'].id}/releases", json={"version": "2.5.1"}, headers=world["auth"]
    )
    data = b"berkas bersama " * 100
    first = await upload(client, world, data=data, name="bersama.bin")
    assert first.status_code == 201
    other = await client.post(
        f"/api/v1/apps/{world['app'].id}/releases/{second.json()['id']}/artifacts",
        content=data,
        params={"name": "bersama.bin"},
        headers=world["auth"],
    )
    assert other.status_code == 201, other.text
    assert list((settings.artifacts_dir / "sha256").rglob(sha(data)[2:])) == [
        artifacts.blob_path(settings, sha(data))
    ]
    for url in (first.json()["artifacts"][0]["url"], other.json()["artifacts"][0]["url"]):
        assert (await client.get(url)).content == data


async def test_unknown_file_is_404_and_a_linked_one_redirects(client, world):
    app_id, release_id = world["app"].id, world["release"]["id"]
    linked = {
        "name": "smart-kampung-2.5.0.zip",
        "url": "https://git.example/releases/smart-kampung-2.5.0.zip",
    }
    patched = await client.patch(
        f"/api/v1/apps/{app_id}/releases/{release_id}",
        json={"artifacts": [linked]},
        headers=world["auth"],
    )
    assert patched.status_code == 200, patched.text
    assert (await client.get(f"{world['files']}/tidak-ada.zip")).status_code == 404
    redirect = await client.get(f"{world['files']}/smart-kampung-2.5.0.zip")
    assert redirect.status_code == 302
    assert redirect.headers["location"] == linked["url"]


async def test_update_keeps_uploaded_entries_but_cannot_forge_one(client, world):
    uploaded = (await upload(client, world)).json()
    release_url = f"/api/v1/apps/{world['app'].id}/releases/{world['release']['id']}"
    kept = await client.patch(
        release_url,
        json={"notes": "Perbaikan", "artifacts": uploaded["artifacts"]},
        headers=world["auth"],
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["artifacts"] == uploaded["artifacts"]

    forged = dict(uploaded["artifacts"][0], name="lain.tar.gz", sha256=sha(b"milik orang lain"))
    forged["url"] = forged["url"].replace("smart-kampung-2.5.0.tar.gz", "lain.tar.gz")
    refused = await client.patch(
        release_url, json={"artifacts": [*uploaded["artifacts"], forged]}, headers=world["auth"]
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "artifacts", 1, "url"]

    dropped = await client.patch(release_url, json={"artifacts": []}, headers=world["auth"])
    assert dropped.status_code == 200
    assert (await client.get(f"{world['files']}/smart-kampung-2.5.0.tar.gz")).status_code == 404


def test_openapi_describes_upload_and_download(app):
    spec = app.openapi()
    path = "/api/v1/apps/{app_id}/releases/{release_id}/artifacts"
    upload_op = spec["paths"][path]["post"]
    assert upload_op["operationId"] == "upload_artifact"
    content = upload_op["requestBody"]["content"]
    assert content["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}
    assert "multipart/form-data" in content
    assert {p["name"] for p in upload_op["parameters"]} >= {"name", "sha256", "Idempotency-Key"}
    download_op = spec["paths"][path + "/{name}"]["get"]
    assert download_op["operationId"] == "download_artifact"
    assert "302" in download_op["responses"]


async def test_prune_keeps_listed_files_and_removes_the_rest(
    client, world, settings, session, tmp_path
):
    kept = b"listed by a live release"
    dropped = b"listed by a deleted release"
    assert (await upload(client, world, data=kept, name="kept.bin")).status_code == 201
    second = await client.post(
        f"/api/v1/apps/{world['app'].id}/releases", json={"version": "2.6.0"}, headers=world["auth"]
    )
    files = f"/api/v1/apps/{world['app'].id}/releases/{second.json()['id']}/artifacts"
    response = await client.post(
        files,
        content=dropped,
        params={"name": "dropped.bin"},
        headers={"Content-Type": "application/octet-stream", **world["auth"]},
    )
    assert response.status_code == 201, response.text
    deleted = await client.delete(
        f"/api/v1/apps/{world['app'].id}/releases/{second.json()['id']}", headers=world["auth"]
    )
    assert deleted.status_code == 204
    leftover = artifacts.tmp_dir(settings) / "interrupted-upload"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a file")

    # Recent files are left alone: an upload in flight stores its file first.
    assert artifacts.prune(session, settings, older_than=3600) == (0, 0)
    assert {sha(kept), sha(dropped)} <= blobs(settings)

    files_removed, _ = artifacts.prune(session, settings, older_than=0)
    assert files_removed >= 2
    assert sha(kept) in blobs(settings)
    assert sha(dropped) not in blobs(settings)
    assert not leftover.exists()
    download = await client.get(f"{world['files']}/kept.bin")
    assert download.content == kept


@pytest.mark.parametrize(
    ("declared", "served"),
    [
        ("text/html", "application/octet-stream"),
        ("text/html; charset=utf-8", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("text/javascript", "application/octet-stream"),
        ("application/x-made-up", "application/octet-stream"),
        ("application/zip", "application/zip"),
        ("APPLICATION/PDF", "application/pdf"),
        ("application/json", "application/json"),
        ("text/plain; charset=latin-1", "text/plain; charset=utf-8"),
    ],
)
async def test_files_are_served_as_downloads_that_never_run(client, world, declared, served):
    """Whatever type the uploader declares, the node serves its files as downloads a
    browser will neither sniff nor run: a safe type, attachment, nosniff, sandbox."""
    page = b"<html><script>alert(document.cookie)</script></html>"
    response = await upload(client, world, data=page, name="index.html",
                            headers={"Content-Type": declared})  # fmt: skip
    assert response.status_code == 201, response.text
    url = f"{world['files']}/index.html"
    for download in (await client.get(url), await client.head(url)):
        assert download.status_code == 200
        assert download.headers["content-type"] == served
        assert download.headers["content-disposition"] == 'attachment; filename="index.html"'
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["content-security-policy"] == "sandbox; default-src 'none'"
    again = await client.get(url, headers={"If-None-Match": f'"{sha(page)}"'})
    assert again.status_code == 304
    assert again.headers["x-content-type-options"] == "nosniff"


def test_content_disposition_names_are_plain_ascii() -> None:
    assert artifacts.content_disposition("paket 1.0.zip") == (
        "attachment; filename=\"paket_1.0.zip\"; filename*=UTF-8''paket%201.0.zip"
    )
    assert artifacts.content_disposition('a"b\r\n.zip').startswith(
        'attachment; filename="a_b__.zip"'
    )
    assert artifacts.content_disposition("..") == (
        "attachment; filename=\"download\"; filename*=UTF-8''.."
    )


async def test_an_entry_naming_another_publisher_s_file_redirects_to_its_own_url(
    client, world, make_app, token_for
):
    """Publisher B lists an artifact carrying the sha256 of A's private upload: the
    node sends B's readers to B's URL, never A's stored bytes."""
    secret = b"isi berkas rahasia kabupaten"
    private = make_app(world["owner"], "rahasia", visibility="private")
    release = await client.post(
        f"/api/v1/apps/{private.id}/releases", json={"version": "1.0.0"}, headers=world["auth"]
    )
    files = f"/api/v1/apps/{private.id}/releases/{release.json()['id']}/artifacts"
    stored = await client.post(
        files, content=secret, params={"name": "rahasia.zip"}, headers=world["auth"]
    )
    assert stored.status_code == 201, stored.text

    theirs = make_app(world["other"], "tiruan", visibility="public")
    auth = await token_for(world["other"], "catalog:write")
    entry = {
        "name": "rahasia.zip",
        "url": "https://unduh.example/rahasia.zip",
        "sha256": sha(secret),
    }
    created = await client.post(
        f"/api/v1/apps/{theirs.id}/releases",
        json={"version": "1.0.0", "artifacts": [entry]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    download = await client.get(
        f"/api/v1/apps/{theirs.id}/releases/{created.json()['id']}/artifacts/rahasia.zip"
    )
    assert download.status_code == 302
    assert download.headers["location"] == "https://unduh.example/rahasia.zip"
    assert secret not in download.content

"""Failure injection: a real proxy in front of the node drops connections and answers
503/429, and the client must retry without ever creating anything twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lumbung_client import (
    AsyncClient,
    Client,
    Dataset,
    Publisher,
    RateLimited,
    Retry,
    ServerError,
    TransportError,
)

from .conftest import FileServer, FlakyProxy, Node, free_port

FAST = Retry(attempts=4, backoff=0.01, max_backoff=0.05)


def through(node: Node, proxy: FlakyProxy, retry: Retry = FAST) -> Client:
    return Client(
        proxy.url, client_id=node.client_id, client_secret=node.client_secret, retry=retry
    )


@pytest.fixture
def dataset(admin: Client, publisher: Publisher) -> Dataset:
    return admin.datasets.create(
        publisher=publisher.code, slug="data-uji", title={"id": "Data Uji"}, visibility="public"
    )


def test_lost_create_response_is_retried_without_creating_twice(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, dataset: Dataset
) -> None:
    # Distributions have no unique field, so a second create would be a second row.
    path = f"/api/v1/datasets/{dataset.id}/distributions"
    flaky_proxy.fail("POST", path, "lost", times=2)
    with through(node, flaky_proxy) as client:
        dist = client.distributions.create(dataset, access_url="https://data.example/a.csv")

    assert flaky_proxy.count("POST", path, forwarded=True) == 3
    keys = {key for method, p, key in flaky_proxy.seen if method == "POST" and p == path}
    assert len(keys) == 1
    assert None not in keys
    assert [d.id for d in admin.distributions.list(dataset)] == [dist.id]


def test_without_retries_the_lost_create_still_happened(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, dataset: Dataset
) -> None:
    """The proxy loses the answer, not the request: the node did create."""
    path = f"/api/v1/datasets/{dataset.id}/distributions"
    flaky_proxy.fail("POST", path, "lost")
    with through(node, flaky_proxy, Retry(attempts=1)) as client, pytest.raises(TransportError):
        client.distributions.create(dataset, access_url="https://data.example/b.csv")
    assert len(admin.distributions.list(dataset).all()) == 1


def test_lost_app_create_returns_the_app_not_a_conflict(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, publisher: Publisher
) -> None:
    flaky_proxy.fail("POST", "/api/v1/apps", "lost")
    with through(node, flaky_proxy) as client:
        app = client.apps.create(publisher=publisher.code, slug="tahan-banting", name="Tahan")
    assert admin.apps.get(app.ref).id == app.id
    assert flaky_proxy.count("POST", "/api/v1/apps", forwarded=True) == 2


def test_reset_connections_and_503_are_retried(
    node: Node, flaky_proxy: FlakyProxy, publisher: Publisher
) -> None:
    flaky_proxy.fail("GET", "/api/v1/publishers", "reset")
    flaky_proxy.fail("GET", "/api/v1/publishers", "503", times=2)
    with through(node, flaky_proxy) as client:
        assert client.publishers.get(publisher.code).id == publisher.id
    assert flaky_proxy.count("GET", "/api/v1/publishers") == 4
    assert flaky_proxy.count("GET", "/api/v1/publishers", forwarded=True) == 1


def test_token_request_is_retried(node: Node, flaky_proxy: FlakyProxy) -> None:
    flaky_proxy.fail("POST", "/oauth/token", "lost")
    flaky_proxy.fail("POST", "/oauth/token", "503")
    with through(node, flaky_proxy) as client:
        assert client.token()
    assert flaky_proxy.count("POST", "/oauth/token") == 3


def test_429_waits_for_retry_after(node: Node, flaky_proxy: FlakyProxy) -> None:
    flaky_proxy.fail("GET", "/api/v1/apps", "429", retry_after="1")
    with through(node, flaky_proxy) as client:
        started = time.monotonic()
        client.apps.list().first_page()
        assert time.monotonic() - started >= 1.0


def test_retry_after_beyond_the_limit_is_raised_at_once(
    node: Node, flaky_proxy: FlakyProxy
) -> None:
    flaky_proxy.fail("GET", "/api/v1/apps", "429", retry_after="3600")
    with through(node, flaky_proxy) as client, pytest.raises(RateLimited) as caught:
        client.apps.list().first_page()
    assert caught.value.retry_after == 3600
    assert flaky_proxy.count("GET", "/api/v1/apps") == 1


def test_retries_are_bounded(node: Node, flaky_proxy: FlakyProxy) -> None:
    flaky_proxy.fail("GET", "/api/v1/apps", "503", times=10)
    client = through(node, flaky_proxy, Retry(attempts=3, backoff=0.01))
    with client, pytest.raises(ServerError) as caught:
        client.apps.list().first_page()
    assert caught.value.status == 503
    assert flaky_proxy.count("GET", "/api/v1/apps") == 3


def test_patch_is_not_repeated_after_a_lost_response(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, publisher: Publisher
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="sekali-ubah", name="Sekali")
    flaky_proxy.fail("PATCH", f"/api/v1/apps/{app.id}", "lost")
    with through(node, flaky_proxy) as client, pytest.raises(TransportError):
        client.apps.update(app, name="Sudah Diubah")
    assert flaky_proxy.count("PATCH", f"/api/v1/apps/{app.id}") == 1
    assert admin.apps.get(app.id).name == "Sudah Diubah"


def test_patch_is_retried_after_503(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, publisher: Publisher
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="ubah-lagi", name="Ubah")
    flaky_proxy.fail("PATCH", f"/api/v1/apps/{app.id}", "503")
    with through(node, flaky_proxy) as client:
        assert client.apps.update(app, name="Berubah").name == "Berubah"


def test_delete_whose_answer_was_lost_counts_as_done(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, publisher: Publisher
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="hapus", name="Hapus")
    flaky_proxy.fail("DELETE", f"/api/v1/apps/{app.id}", "lost")
    with through(node, flaky_proxy) as client:
        client.apps.delete(app.id)
    assert flaky_proxy.count("DELETE", f"/api/v1/apps/{app.id}", forwarded=True) == 2


def test_unreachable_node_is_a_transport_error() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", retry=Retry(attempts=2, backoff=0.01))
    with client, pytest.raises(TransportError) as caught:
        client.apps.list().first_page()
    assert caught.value.method == "GET"
    assert "ConnectError" in str(caught.value)


async def test_async_lost_create_is_not_doubled(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, dataset: Dataset
) -> None:
    path = f"/api/v1/datasets/{dataset.id}/distributions"
    flaky_proxy.fail("POST", path, "lost")
    flaky_proxy.fail("POST", path, "503")
    async with AsyncClient(
        flaky_proxy.url, client_id=node.client_id, client_secret=node.client_secret, retry=FAST
    ) as client:
        dist = await client.distributions.create(dataset, access_url="https://data.example/c")
    assert [d.id for d in admin.distributions.list(dataset)] == [dist.id]
    assert flaky_proxy.count("POST", path, forwarded=True) == 2


async def test_async_patch_is_not_repeated_after_a_lost_response(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, publisher: Publisher
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="async-ubah", name="Async")
    flaky_proxy.fail("PATCH", f"/api/v1/apps/{app.id}", "reset")
    async with AsyncClient(
        flaky_proxy.url, client_id=node.client_id, client_secret=node.client_secret, retry=FAST
    ) as client:
        with pytest.raises(TransportError):
            await client.apps.update(app, name="Async 2")


def test_pull_through_a_flaky_proxy(
    node: Node,
    flaky_proxy: FlakyProxy,
    admin: Client,
    publisher: Publisher,
    file_server: FileServer,
    tmp_path: Path,
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="tarik-goyah", name="Goyah")
    content = b"\x00\x01" * 200_000
    admin.releases.create(app, version="1.0", artifacts=[file_server.add("goyah.bin", content)])
    flaky_proxy.fail("GET", "/api/v1/apps", "reset")
    flaky_proxy.fail("GET", f"/api/v1/apps/{app.id}/releases", "503", times=2)
    file_server.truncate["goyah.bin"] = 1
    with through(node, flaky_proxy) as client:
        result = client.apps.pull(app.ref, dest=tmp_path / "out")
    assert result.files[0].path.read_bytes() == content
    assert flaky_proxy.count("GET", f"/api/v1/apps/{app.id}/releases") == 3


def test_upload_whose_answer_was_lost_is_stored_once(
    node: Node, flaky_proxy: FlakyProxy, admin: Client, publisher: Publisher, tmp_path: Path
) -> None:
    app = admin.apps.create(publisher=publisher.code, slug="unggah-goyah", name="Unggah")
    release = admin.releases.create(app, version="1.0")
    file = tmp_path / "paket.tar.gz"
    content = b"paket" * 50_000
    file.write_bytes(content)
    upload_path = f"/api/v1/apps/{app.id}/releases/{release.id}/artifacts"
    flaky_proxy.fail("POST", upload_path, "lost")
    flaky_proxy.fail("POST", upload_path, "503")
    with through(node, flaky_proxy) as client:
        uploaded = client.releases.upload(release, file)
        assert [a.name for a in uploaded.artifacts] == ["paket.tar.gz"]
        assert flaky_proxy.count("POST", upload_path, forwarded=True) == 2

        # The node names the file by its own URL; through the proxy the client still
        # fetches it there, and a download cut short is started again.
        file_path = f"{upload_path}/paket.tar.gz"
        flaky_proxy.fail("GET", file_path, "truncate")
        result = client.apps.pull(app.ref, dest=tmp_path / "out")
    assert result.files[0].path.read_bytes() == content
    assert flaky_proxy.count("GET", file_path) == 2
    assert [a.name for a in admin.releases.get(app, "1.0").artifacts] == ["paket.tar.gz"]


@pytest.mark.parametrize("action", ["lost", "reset", "502"])
def test_post_without_idempotency_key_is_sent_once(
    node: Node, flaky_proxy: FlakyProxy, action: str
) -> None:
    """A decision on a partnership carries no Idempotency-Key: when its answer is lost
    (or a gateway failed) the client cannot tell whether the node acted, so it must not
    send it again."""
    path = "/api/v1/partnerships/00000000-0000-7000-8000-000000000000/approve"
    flaky_proxy.fail("POST", path, action, times=5)
    expected = ServerError if action == "502" else TransportError
    with through(node, flaky_proxy) as client, pytest.raises(expected):
        client.partnerships.approve("00000000-0000-7000-8000-000000000000")
    assert flaky_proxy.count("POST", path) == 1


@pytest.mark.parametrize("action", ["lost", "reset"])
async def test_async_post_without_idempotency_key_is_sent_once(
    node: Node, flaky_proxy: FlakyProxy, action: str
) -> None:
    path = "/api/v1/partnerships/00000000-0000-7000-8000-000000000000/approve"
    flaky_proxy.fail("POST", path, action, times=5)
    async with AsyncClient(
        flaky_proxy.url, client_id=node.client_id, client_secret=node.client_secret, retry=FAST
    ) as client:
        with pytest.raises(TransportError):
            await client.partnerships.approve("00000000-0000-7000-8000-000000000000")
    assert flaky_proxy.count("POST", path) == 1

"""A peer's URL must not make the node reach into its own network, and credentials
in it are never repeated back."""

from __future__ import annotations

import socket

import httpx2
import pytest
from typer.testing import CliRunner

from registry.app import create_app
from registry.cli import app as cli
from registry.federation import transport
from registry.federation.transport import PeerError
from registry.formats.fetch import fetch
from registry.netguard import UnsafeAddress, check_url, redact
from registry.settings import get_settings

INTERNAL = [
    "http://127.0.0.1:9",
    "http://localhost:9",
    "http://[::1]:9",
    "http://169.254.169.254/latest/meta-data",
    "http://10.1.2.3",
    "http://172.16.0.1",
    "http://192.168.1.1",
    "http://100.64.0.1",
    "http://0.0.0.0:9",
    "http://[::ffff:127.0.0.1]:9",
    "http://[fe80::1]",
    "http://[fd00::1]",
    "http://224.0.0.1",
]
SECRET = "http://kota:rahasia-sekali@127.0.0.1:9"


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused_unless_allowed(url):
    with pytest.raises(UnsafeAddress, match="LUMBUNG_FETCH_ALLOW"):
        check_url(url)
    check_url(url, ["0.0.0.0/0", "::/0", "localhost"])


@pytest.mark.parametrize("url", ["https://93.184.216.34", "http://[2606:4700::1111]:8080/x"])
def test_public_addresses_pass(url):
    check_url(url)


@pytest.mark.parametrize("allow", [[], ["127.0.0.0/8"]])
@pytest.mark.parametrize("url", [SECRET, "ftp://kota:rahasia-sekali@x.example", SECRET + "99999"])
def test_credentials_are_refused_and_not_repeated(allow, url):
    with pytest.raises(UnsafeAddress) as caught:
        check_url(url, allow)
    assert "rahasia" not in str(caught.value) + str(caught.value.errors)
    assert redact(SECRET) == "http://127.0.0.1:9"


@pytest.fixture
async def strict_client(settings, connection):
    transport = httpx2.ASGITransport(app=create_app(settings, engine=connection))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://169.254.169.254", "http://10.0.0.8"])
async def test_api_refuses_an_internal_peer(strict_client, token_for, url):
    admin = await token_for(None, "admin")
    response = await strict_client.post("/api/v1/peers", json={"url": url}, headers=admin)
    assert response.status_code == 422, response.text
    assert "non-public" in response.json()["detail"]


async def test_api_does_not_echo_credentials(client, token_for):
    admin = await token_for(None, "admin")
    response = await client.post("/api/v1/peers", json={"url": SECRET}, headers=admin)
    assert response.status_code == 422, response.text
    assert "rahasia" not in response.text


@pytest.fixture
def strict_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMBUNG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LUMBUNG_DATABASE_URL", raising=False)
    monkeypatch.delenv("LUMBUNG_FETCH_ALLOW", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", SECRET])
def test_cli_refuses_an_internal_peer_in_one_line(strict_env, url):
    result = CliRunner().invoke(cli, ["peer", "add", url, "--yes"])
    assert result.exit_code != 0
    assert "rahasia" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


# --- a name that answers with a public address, then with an internal one -------------


@pytest.fixture
def rebinding(file_server, monkeypatch):
    """``rebind.example``: a public address the first time it is resolved (when the
    URL is checked), after that the loopback address of an internal service, which a
    fetch must never reach."""
    base, routes = file_server
    routes["/secret"] = (200, b'{"secret": "internal"}', {"Content-Type": "application/json"})
    answers = iter(["93.184.216.34"])
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return base.replace("127.0.0.1", "rebind.example") + "/secret"


def test_a_fetch_connects_only_to_the_addresses_it_checked(rebinding, settings):
    with pytest.raises(UnsafeAddress, match="127.0.0.1, a non-public address"):
        fetch(settings, rebinding)


def test_a_peer_request_connects_only_to_allowed_addresses(rebinding):
    check_url(rebinding)  # as when the peer was added
    with transport.new_client([]) as client, pytest.raises(PeerError) as caught:
        transport.request_bytes(client, "GET", rebinding)
    assert "non-public address" in str(caught.value)
    assert not caught.value.retry
    # An address the operator allows is reached as before.
    with transport.new_client(["127.0.0.0/8"]) as client:
        status, body = transport.request_bytes(client, "GET", rebinding)
    assert (status, body) == (200, b'{"secret": "internal"}')

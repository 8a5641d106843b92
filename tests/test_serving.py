"""A real ``lumbung serve`` process: no version banner, and slow clients are cut off
(partial request heads, stalled bodies) instead of holding a connection for ever."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx2
import pytest

from tests.nodes import Node


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("serving")
    node = Node(
        name="serving",
        data_dir=data_dir,
        extra_env={"LUMBUNG_HEADER_TIMEOUT": "1", "LUMBUNG_BODY_TIMEOUT": "1"},
    )
    node.start()
    try:
        node.wait_ready()
        yield node
    finally:
        node.stop()


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Read until the server closes the connection or ``seconds`` pass."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return True, received
        received += chunk
    return False, received


def test_no_server_banner_and_security_headers(node):
    response = httpx2.get(f"{node.url}/api/v1/apps")
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_connection_that_sends_nothing_is_closed(node):
    with socket.create_connection(("127.0.0.1", node.port)) as sock:
        closed, _ = _closed_within(sock, 6)
    assert closed


def test_a_partial_request_head_is_closed(node):
    with socket.create_connection(("127.0.0.1", node.port)) as sock:
        sock.sendall(b"GET /api/v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed, _ = _closed_within(sock, 6)
    assert closed


def test_a_stalled_body_gets_408_and_the_connection_closes(node):
    with socket.create_connection(("127.0.0.1", node.port)) as sock:
        sock.sendall(
            b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1000\r\n\r\ngra"
        )
        closed, received = _closed_within(sock, 8)
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert closed

"""Fixtures for the SDK tests: a real node in a subprocess, a file server for artifacts,
and a flaky proxy that breaks connections on purpose.

The node runs as ``lumbung serve`` on a free port of 127.0.0.1 with its own data
directory, exactly as a city would run it; the SDK talks to it over real HTTP.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from lumbung_client import AsyncClient, Client, Publisher

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    """A running node and what a test needs to talk to it."""

    url: str
    client_id: str
    client_secret: str
    data_dir: Path
    env: dict[str, str]

    def lumbung(self, *args: str) -> str:
        """Run ``lumbung ARGS`` against this node's data directory; returns stdout."""
        result = subprocess.run(
            [str(VENV_BIN / "lumbung"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def add_client(self, publisher: str | None, scope: str) -> tuple[str, str]:
        """A new service account; returns (client_id, client_secret)."""
        args = ["client", "add", "--scope", scope, "--json"]
        if publisher:
            args += ["--publisher", publisher]
        data = json.loads(self.lumbung(*args))
        return data["client_id"], data["client_secret"]

    def admin(self, **kwargs: Any) -> Client:
        return Client(
            self.url, client_id=self.client_id, client_secret=self.client_secret, **kwargs
        )

    def async_admin(self, **kwargs: Any) -> AsyncClient:
        return AsyncClient(
            self.url, client_id=self.client_id, client_secret=self.client_secret, **kwargs
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the node exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            response = httpx2.get(url + "/readyz", timeout=2)
            if response.status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the node did not become ready:\n{log.read_text()[-4000:]}")


def start_node(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Node]:
    """Run ``lumbung serve`` on a free port until the generator is closed."""
    data_dir = tmp_path_factory.mktemp(name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")},
        "LUMBUNG_DATA_DIR": str(data_dir),
        "LUMBUNG_BASE_URL": url,
        "LUMBUNG_NODE_NAME": f"SDK test {name}",
        # The SDK's nodes peer with each other on 127.0.0.1.
        "LUMBUNG_FETCH_ALLOW": '["127.0.0.0/8", "::1"]',
    }
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "lumbung"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, process, log)
        creds = json.loads((data_dir / "admin-client.json").read_text())
        yield Node(url, creds["client_id"], creds["client_secret"], data_dir, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node started with ``lumbung serve`` for the whole SDK test session."""
    yield from start_node(tmp_path_factory, "sdk-node")


@pytest.fixture(scope="session")
def peer_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A second node, for partnerships and reading a feed as a peer."""
    yield from start_node(tmp_path_factory, "sdk-peer-node")


@pytest.fixture
def admin(node: Node) -> Iterator[Client]:
    with node.admin() as client:
        yield client


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps slugs and codes apart between tests."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def publisher(admin: Client, unique: str) -> Publisher:
    """A fresh publisher for one test."""
    return admin.publishers.create(
        code=f"kota-uji-{unique}", name=f"Kota Uji {unique}", kind="city", region_code="13.77"
    )


# --- artifact file server --------------------------------------------------------------


@dataclass
class FileServer:
    """Serves files from ``root`` over HTTP on 127.0.0.1, as a code forge would."""

    url: str
    root: Path
    requests: list[dict[str, str]] = field(default_factory=list)
    #: name -> how many more times to cut that file's response short
    truncate: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, content: bytes) -> dict[str, Any]:
        """Store a file; returns the artifact dict a release would declare for it."""
        (self.root / name).write_bytes(content)
        return {
            "name": name,
            "url": f"{self.url}/{name}",
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "media_type": "application/octet-stream",
        }


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[FileServer]:
    root = tmp_path / "forge"
    root.mkdir()
    server_state: dict[str, FileServer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state = server_state["s"]
            state.requests.append({"path": self.path, **dict(self.headers.items())})
            name = self.path.lstrip("/")
            path = state.root / name
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if state.truncate.get(name, 0) > 0:
                state.truncate[name] -= 1
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = FileServer(f"http://127.0.0.1:{httpd.server_address[1]}", root)
    server_state["s"] = state
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --- flaky proxy ------------------------------------------------------------------------


@dataclass
class Fault:
    """What the proxy does to the next request matching ``method`` and ``path``."""

    method: str
    path: str
    #: "reset" (drop before forwarding), "lost" (forward, then drop the response),
    #: "503", "429", "truncate" (forward, send half the body, drop)
    action: str
    times: int = 1
    retry_after: str | None = "0"


@dataclass
class FlakyProxy:
    """An HTTP proxy in front of the node that fails on command.

    ``seen`` records every request that reached the proxy (method, path, and the
    Idempotency-Key), ``forwarded`` those passed on to the node.
    """

    url: str
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    forwarded: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, path: str, action: str, times: int = 1, **kw: Any) -> None:
        with self.lock:
            self.faults.append(Fault(method, path, action, times, **kw))

    def take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and path.split("?")[0].startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def count(self, method: str, path_prefix: str, *, forwarded: bool = False) -> int:
        log = self.forwarded if forwarded else self.seen
        return sum(1 for m, p, _ in log if m == method and p.startswith(path_prefix))


@pytest.fixture
def flaky_proxy(node: Node) -> Iterator[FlakyProxy]:
    holder: dict[str, FlakyProxy] = {}
    upstream = httpx2.URL(node.url)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            proxy = holder["p"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            key = self.headers.get("Idempotency-Key")
            with proxy.lock:
                proxy.seen.append((self.command, self.path, key))
            fault = proxy.take(self.command, self.path)
            action = fault.action if fault else None
            if action == "reset":
                self._reset()
                return
            if action in ("502", "503", "429"):
                payload = json.dumps({"type": "about:blank", "title": "busy", "status": 503})
                self.send_response(int(action))
                if fault and fault.retry_after is not None:
                    self.send_header("Retry-After", fault.retry_after)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload.encode())
                return
            conn = http.client.HTTPConnection(upstream.host, upstream.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                upstream_response = conn.getresponse()
                data = upstream_response.read()
                with proxy.lock:
                    proxy.forwarded.append((self.command, self.path, key))
                if action == "lost":
                    self._reset()
                    return
                self.send_response(upstream_response.status)
                for name, value in upstream_response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                if upstream_response.status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if action == "truncate":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._reset()
                    return
                self.wfile.write(data)
            finally:
                conn.close()

        def _reset(self) -> None:
            # RST instead of FIN: the client sees the connection torn down.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    proxy = FlakyProxy(f"http://127.0.0.1:{httpd.server_address[1]}", node.url)
    holder["p"] = proxy
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def run_cli(node: Node) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``lumbung-client`` with the node's URL and the given credentials."""

    def run(
        *args: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        url: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
        env["LUMBUNG_URL"] = url or node.url
        if client_id:
            env["LUMBUNG_CLIENT_ID"] = client_id
        if client_secret:
            env["LUMBUNG_CLIENT_SECRET"] = client_secret
        return subprocess.run(
            [str(VENV_BIN / "lumbung-client"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=cwd,
        )

    return run

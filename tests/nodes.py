"""Real nodes for tests that cross process boundaries: each a ``lumbung serve``
subprocess on a free port of 127.0.0.1 with its own data directory and database.

On the PostgreSQL pass of the suite each node gets its own scratch PostgreSQL database
beside the test database, so process-level tests run on both databases too."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

from registry.db import take_change_seqs, utcnow
from tests.conftest import TEST_DATABASE_URL, on_postgres

LUMBUNG = str(Path(sys.executable).with_name("lumbung"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_database(name: str) -> str:
    """Create a new empty ``<test db>_<name>_<pid>`` and return its URL. The process id
    keeps two suites on one server (a developer's and CI's) apart."""
    assert TEST_DATABASE_URL is not None
    url = sa.make_url(TEST_DATABASE_URL)
    database = f"{url.database}_{name}_{os.getpid()}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    admin.dispose()
    return url.set(database=database).render_as_string(hide_password=False)


def drop_postgres_database(db_url: str) -> None:
    url = sa.make_url(db_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    admin.dispose()


@dataclass
class Node:
    name: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    database_url: str | None = None
    serve_args: tuple[str, ...] = ("--no-demo",)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _engine: sa.Engine | None = None
    _token: tuple[dict[str, str], float] | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")}
        env.update(
            LUMBUNG_DATA_DIR=str(self.data_dir),
            LUMBUNG_BASE_URL=self.url,
            LUMBUNG_NODE_NAME=self.name.title(),
            LUMBUNG_SYNC_INTERVAL="0",
            # Test nodes all listen on 127.0.0.1, and peer with each other there.
            LUMBUNG_FETCH_ALLOW='["127.0.0.0/8", "::1"]',
        )
        if self.database_url:
            env["LUMBUNG_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.database_url or f"sqlite:///{self.data_dir / 'lumbung.db'}"
            self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        return self._engine

    def start(self) -> None:
        self._log = open(self.data_dir / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [LUMBUNG, "serve", "--port", str(self.port), *self.serve_args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited: {(self.data_dir / 'serve.log').read_text()[-3000:]}"
                )
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._engine is not None:
            self._engine.dispose()
        if self._log is not None:
            self._log.close()

    # --- talking to it ---------------------------------------------------------------

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [LUMBUNG, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"lumbung {' '.join(args)} on {self.name} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def cli_popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [LUMBUNG, *args], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @property
    def admin_credentials(self) -> tuple[str, str]:
        creds = json.loads((self.data_dir / "admin-client.json").read_text())
        return creds["client_id"], creds["client_secret"]

    def token(self, client_id: str, client_secret: str) -> dict[str, str]:
        """Authorization headers with a fresh access token for that client."""
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        response = httpx2.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def admin_headers(self) -> dict[str, str]:
        # Tokens live 300 s; reuse one for 200 s.
        if self._token is None or self._token[1] < time.monotonic():
            self._token = (self.token(*self.admin_credentials), time.monotonic() + 200)
        return self._token[0]

    def client_headers(self, publisher: str, scope: str) -> dict[str, str]:
        """A fresh OAuth client of one of the node's publishers, and a token for it."""
        result = self.cli(
            "client", "add", "--name", f"{publisher} test", "--publisher", publisher,
            "--scope", scope, "--json",
        )  # fmt: skip
        creds = json.loads(result.stdout)
        return self.token(creds["client_id"], creds["client_secret"])

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = httpx2.get(f"{self.url}{path}", headers=headers, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        response = httpx2.post(f"{self.url}{path}", json=body, headers=headers, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def ids(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> set[str]:
        """Every id of a paged list."""
        found: set[str] = set()
        cursor = None
        while True:
            query = dict(params, limit=200)
            if cursor:
                query["cursor"] = cursor
            page = self.get(path, headers, **query)
            found.update(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return found


def signing_key(node: Node) -> Any:
    """The node's current private signing key, read from its data directory: what an
    attacker who runs that node holds."""
    from joserfc.jwk import ECKey

    keys_dir = node.data_dir / "keys"
    kid = json.loads((keys_dir / "manifest.json").read_text())["current"]
    return ECKey.import_key(json.loads((keys_dir / f"{kid}.jwk").read_text()))


def signed_post(
    sender: Node,
    receiver: Node,
    path: str,
    payload: dict[str, Any],
    *,
    key: Any = None,
    kid: str | None = None,
) -> httpx2.Response:
    """POST a federation request to ``receiver`` as ``sender`` would: a JWT naming the
    method, path and body hash, signed with ``key`` (by default the sender's own)."""
    from joserfc import jwt

    from registry.federation.signing import FEDERATION_TYP, body_hash

    key = key or signing_key(sender)
    body = json.dumps(payload).encode()
    now = int(time.time())
    claims = {
        "iss": sender.url, "sub": sender.url, "aud": receiver.url, "iat": now,
        "exp": now + 60, "jti": uuid.uuid4().hex, "htm": "POST", "htu": path,
        "bh": body_hash(body),
    }  # fmt: skip
    header = {"alg": "ES256", "kid": kid or key.kid, "typ": FEDERATION_TYP}
    token = jwt.encode(header, claims, key, algorithms=["ES256"])
    return httpx2.post(
        receiver.url + path,
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )


def start_nodes(base: Path, names: list[str], *serve_args: str) -> list[Node]:
    """Start one node per name, each in ``base/<name>``, and wait until all are ready."""
    nodes = []
    for name in names:
        data_dir = base / name
        data_dir.mkdir(parents=True, exist_ok=True)
        database_url = postgres_database(name) if on_postgres() else None
        node = Node(name=name, data_dir=data_dir, database_url=database_url)
        if serve_args:
            node.serve_args = serve_args
        nodes.append(node)
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        node.stop()
        if node.database_url:
            drop_postgres_database(node.database_url)


@contextmanager
def running_node(name: str, base: Path, *serve_args: str) -> Iterator[Node]:
    """One node for the duration of the block."""
    (node,) = start_nodes(base, [name], *serve_args)
    try:
        yield node
    finally:
        stop_nodes([node])


def bulk_apps(node: Node, publisher_code: str, count: int, *, visibility: str = "public") -> None:
    """Insert ``count`` apps straight into a node's database, each with its own place
    in the change sequence (taken from the node's counter, as the node does)."""
    from sqlalchemy.orm import Session
    from sqlmodel import col

    from registry.catalog.models import App, Publisher
    from registry.db import table_of

    with Session(node.engine) as session, session.begin():
        publisher_id = session.execute(
            sa.select(col(Publisher.id)).where(col(Publisher.code) == publisher_code)
        ).scalar_one()
        now = utcnow()
        batch = 5000
        for start in range(0, count, batch):
            n = min(batch, count - start)
            seqs = take_change_seqs(session, n)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "created_at": now,
                    "updated_at": now,
                    "deleted_at": None,
                    "change_seq": seq,
                    "origin": None,
                    "audience": None,
                    "publisher_id": publisher_id,
                    "slug": f"bulk-{start + i}-{seq}",
                    "name": f"Bulk app {start + i}",
                    "description": {"id": {"short_description": "Aplikasi", "features": []}},
                    "categories": [],
                    "platforms": ["web"],
                    "tags": [],
                    "license": "EUPL-1.2",
                    "visibility": visibility,
                    "demo": False,
                }
                for i, seq in enumerate(seqs)
            ]
            session.execute(sa.insert(table_of(App)), rows)

"""Real nodes for tests that cross process boundaries: ``lumbung serve`` on a free port
of 127.0.0.1, each with its own data directory and database.

On the PostgreSQL pass of the suite each node gets its own scratch PostgreSQL database
next to the test database, so process-level tests run on both databases too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import sqlalchemy as sa

VENV_BIN = Path(sys.executable).parent
TEST_DATABASE_URL = os.environ.get("LUMBUNG_TEST_DATABASE_URL") or None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(name: str) -> Iterator[str | None]:
    """A new empty PostgreSQL database when the suite runs on PostgreSQL, else None
    (the node then uses SQLite in its data directory). Dropped afterwards."""
    if not (TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql")):
        yield None
        return
    url = sa.make_url(TEST_DATABASE_URL)
    # The process id keeps two suites on one server (a developer's and CI's) apart.
    database = f"{url.database}_{name}_{os.getpid()}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    try:
        yield url.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Node:
    """A running node and what a test needs to talk to it."""

    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def admin_credentials(self) -> tuple[str, str]:
        creds = json.loads((self.data_dir / "admin-client.json").read_text())
        return creds["client_id"], creds["client_secret"]

    def lumbung(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``lumbung ARGS`` on this node's settings, as its operator would."""
        result = subprocess.run(
            [str(VENV_BIN / "lumbung"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def token(self, client_id: str, client_secret: str) -> dict[str, str]:
        response = httpx2.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, client_secret),
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the node exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx2.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the node did not become ready:\n{log.read_text()[-4000:]}")


@contextmanager
def running_node(
    name: str, data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Node]:
    """Start ``lumbung serve`` for the duration of the block."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with scratch_database(name) as database_url:
        node_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LUMBUNG_")},
            "LUMBUNG_DATA_DIR": str(data_dir),
            "LUMBUNG_BASE_URL": url,
            "LUMBUNG_NODE_NAME": name,
            **({"LUMBUNG_DATABASE_URL": database_url} if database_url else {}),
            **(env or {}),
        }
        log = data_dir / "server.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(VENV_BIN / "lumbung"), "serve", "--port", str(port), *args],
                env=node_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_ready(url, process, log)
            yield Node(url, data_dir, node_env, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

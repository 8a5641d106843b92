"""Shared fixtures.

The schema is migrated once per run. Each test runs inside one database transaction
that is rolled back at the end; every request's unit of work nests in it as a
savepoint. The whole suite runs on SQLite, and on PostgreSQL when
``LUMBUNG_TEST_DATABASE_URL`` names a PostgreSQL database (it is emptied first).
"""

from __future__ import annotations

import base64
import http.server
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import Session

from registry import migrate
from registry.app import create_app
from registry.catalog import schemas, service
from registry.catalog.models import App, Dataset, Publisher
from registry.db import create_db_engine
from registry.oauth.service import create_client
from registry.principal import Principal
from registry.settings import Settings, load_settings
from registry.startup import start

TEST_DATABASE_URL = os.environ.get("LUMBUNG_TEST_DATABASE_URL") or None
# Tests call the services without an app too, as the CLI does: they start as it does.
start()
ADMIN = Principal(client_id="test-admin", scopes=frozenset({"admin"}))


def on_postgres() -> bool:
    return bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))


def reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("node")
    return load_settings(
        data_dir=data_dir,
        database_url=TEST_DATABASE_URL,
        base_url="http://testserver",
        # One app serves the whole run, its tokens all asked for from one address; the
        # limits are tested on an app of their own.
        token_rate_per_client=0,
        token_rate_per_address=0,
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[sa.Engine]:
    if on_postgres():
        assert TEST_DATABASE_URL is not None
        reset_postgres(TEST_DATABASE_URL)
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session(connection: sa.Connection) -> Iterator[Session]:
    with Session(
        connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


@pytest.fixture(scope="session")
def node_app(settings: Settings, engine: sa.Engine) -> FastAPI:
    # Building the app (routes, OpenAPI models) is the slow part; do it once.
    return create_app(settings, engine=engine)


@pytest.fixture
def app(node_app: FastAPI, connection: sa.Connection) -> Iterator[FastAPI]:
    """The node, with every request's unit of work nested in this test's transaction."""
    node_app.state.engine = connection
    # Each test's transaction is rolled back, so the next one numbers its changes from
    # the same value again: answers kept under an earlier test's version must go.
    node_app.state.api_cache.clear()
    yield node_app
    node_app.state.engine = None


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


# --- factories ---------------------------------------------------------------------


@pytest.fixture
def make_publisher(session: Session) -> Callable[..., Publisher]:
    def make(code: str = "kab-banyuwangi", **fields: Any) -> Publisher:
        fields.setdefault("name", code.replace("-", " ").title())
        publisher = service.create_publisher(session, schemas.PublisherCreate(code=code, **fields))
        session.commit()
        return publisher

    return make


@pytest.fixture
def make_app(session: Session) -> Callable[..., App]:
    def make(publisher: Publisher, slug: str = "layanan-desa", **fields: Any) -> App:
        fields.setdefault("name", slug.replace("-", " ").title())
        fields.setdefault("visibility", "public")
        app_in = schemas.AppCreate(publisher=publisher.code, slug=slug, **fields)
        app = service.create_app(session, ADMIN, app_in)
        session.commit()
        return app

    return make


@pytest.fixture
def make_dataset(session: Session) -> Callable[..., Dataset]:
    def make(publisher: Publisher, slug: str = "penduduk", **fields: Any) -> Dataset:
        fields.setdefault("title", {"id": slug.title(), "en": slug.title()})
        fields.setdefault("visibility", "public")
        dataset_in = schemas.DatasetCreate(publisher=publisher.code, slug=slug, **fields)
        dataset = service.create_dataset(session, ADMIN, dataset_in)
        session.commit()
        return dataset

    return make


@pytest.fixture
def token_for(
    session: Session, client: httpx2.AsyncClient, settings: Settings
) -> Callable[..., Any]:
    """``await token_for(publisher, "catalog:write")`` → Authorization headers of a
    fresh client of that publisher (``None`` for a client of no publisher)."""

    async def issue(publisher: Publisher | None, scope: str) -> dict[str, str]:
        oauth_client, secret = create_client(
            session,
            name="test client",
            scopes=scope,
            publisher_id=publisher.id if publisher else None,
            settings=settings,
        )
        session.commit()
        basic = base64.b64encode(f"{oauth_client.client_id}:{secret}".encode()).decode()
        response = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return issue


@pytest.fixture
def node_token(session: Session, app: FastAPI) -> Callable[..., dict[str, str]]:
    """``node_token("https://pariaman.example")`` → Authorization headers of a token this
    node issued to that peer node's client (``federation:read``), as after a partnership
    approval."""
    from registry.oauth.tokens import issue_access_token

    def issue(node_id: str, scope: str = "federation:read federation:write") -> dict[str, str]:
        oauth_client, _ = create_client(
            session,
            name=f"Peer node {node_id}",
            scopes=scope,
            publisher_id=None,
            auth_method="private_key_jwt",
            jwks_uri=f"{node_id}/.well-known/jwks.json",
            node_id=node_id,
        )
        session.commit()
        token = issue_access_token(
            settings=app.state.settings, keys=app.state.keys, client=oauth_client, scope=scope
        )["access_token"]
        return {"Authorization": f"Bearer {token}"}

    return issue


# --- a static HTTP server on loopback ------------------------------------------------


class _Files(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        status, body, headers = self.routes.get(self.path, (404, b"not found", {}))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[tuple[str, dict[str, tuple[int, bytes, dict[str, str]]]]]:
    """``(base_url, routes)``: put ``routes["/path"] = (status, body, headers)``."""
    routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
    handler = type("Files", (_Files,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()

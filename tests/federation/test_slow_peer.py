"""A slow peer never holds this node's write lock.

The node talks to other nodes in several places — delivering queued notices, sending a
partnership request, fetching a peer's keys again when a token request or a signed
request names a key it has not seen. Each time a real loopback server stands in for the
peer and stalls; while it stalls, an ordinary write on the node must go through at
once. On SQLite a write transaction held across the call would make that writer wait
for the peer ("database is locked" once the busy timeout runs out); on PostgreSQL the
change counter's row lock would do the same to every writer.

These tests need commits that other connections see, so each runs on a database of
its own (a file for SQLite, a scratch database on PostgreSQL), not in the suite's
rolled-back transaction."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlmodel import select

from registry import migrate
from registry.app import create_app
from registry.catalog import schemas as catalog_schemas
from registry.catalog import service as catalog
from registry.db import create_db_engine, session_scope, utcnow
from registry.federation import outbox
from registry.federation.signing import FEDERATION_TYP, body_hash
from registry.oauth.keys import KeyStore
from registry.oauth.service import create_client
from registry.outbox import OutboxMessage, enqueue
from registry.peers import Peer
from registry.settings import Settings, load_settings
from tests.conftest import on_postgres
from tests.nodes import drop_postgres_database, postgres_database

STALL_SECONDS = 4.0
# A local write that waits for nothing takes milliseconds, even on a loaded machine.
QUICK_SECONDS = 1.5
ISSUER = "http://testserver"


class StallingPeer:
    """A loopback HTTP server that answers only once released (or after
    ``STALL_SECONDS``): a peer node that is slow to answer."""

    def __init__(self, jwks: dict[str, Any] | None = None) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.jwks = jwks or {"keys": []}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                peer.arrived.set()
                peer.release.wait(STALL_SECONDS)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(200, peer.jwks)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self._answer(201, {"id": str(uuid.uuid4()), "status": "requested"})

        return Handler

    def __enter__(self) -> StallingPeer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Settings, sa.Engine]]:
    """A migrated database of this test's own, and the settings of a node on it."""
    database_url = postgres_database("slow") if on_postgres() else None
    settings = load_settings(
        data_dir=tmp_path, database_url=database_url, base_url=ISSUER, fetch_allow=["127.0.0.0/8"]
    )
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    try:
        yield settings, engine
    finally:
        engine.dispose()
        if database_url:
            drop_postgres_database(database_url)


def _timed_write(engine: sa.Engine) -> float:
    """How long an ordinary local write takes: a new publisher, committed."""
    started = time.monotonic()
    with session_scope(engine) as session:
        code = f"kota-{uuid.uuid4().hex[:8]}"
        catalog.create_publisher(session, catalog_schemas.PublisherCreate(code=code, name=code))
    return time.monotonic() - started


def _while_stalled(peer: StallingPeer, engine: sa.Engine, work: Any) -> float:
    """Run ``work`` in a thread; once it is talking to the stalled peer, time a local
    write; then let the peer answer and wait for ``work`` to finish."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert peer.arrived.wait(30), "the node never called the peer"
        took = _timed_write(engine)
    finally:
        peer.release.set()
        thread.join(60)
    assert not errors, errors
    return took


def _add_peer(engine: sa.Engine, url: str, jwks: dict[str, Any] | None = None) -> None:
    with session_scope(engine) as session:
        session.add(
            Peer(
                node_id=url,
                name="Slow",
                api_base=f"{url}/api/v1",
                issuer=url,
                jwks_uri=f"{url}/.well-known/jwks.json",
                feed_url=f"{url}/federation/v1/changes",
                token_endpoint=f"{url}/oauth/token",
                publishers=[{"id": str(uuid.uuid4()), "code": "kota-lambat", "name": "Lambat"}],
                jwks=jwks or {"keys": []},
                jwks_fetched_at=utcnow(),
            )
        )


def test_outbox_drain_does_not_block_writers(node: tuple[Settings, sa.Engine]) -> None:
    settings, engine = node
    keys = KeyStore.open(settings.keys_dir)
    with StallingPeer() as peer:
        with session_scope(engine) as session:
            enqueue(
                session,
                node_id=peer.url,
                path="/federation/v1/notify",
                payload={},
                dedupe_key="notify",
            )
        took = _while_stalled(peer, engine, lambda: outbox.drain(engine, settings, keys))
    assert took < QUICK_SECONDS, f"a local write waited {took:.1f} s for the peer"
    with session_scope(engine, write=False) as session:
        (message,) = session.exec(select(OutboxMessage)).all()
        assert message.delivered_at is not None


def _app_call(settings: Settings, engine: sa.Engine, request: Any) -> Any:
    """Send one request to the node's app (in its own event loop, in this thread)."""

    async def go() -> httpx2.Response:
        app = create_app(settings, engine=engine)
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=ISSUER) as client:
            return await request(client)

    return asyncio.run(go())


def test_partnership_request_does_not_block_writers(node: tuple[Settings, sa.Engine]) -> None:
    settings, engine = node
    with session_scope(engine) as session:
        catalog.create_publisher(
            session, catalog_schemas.PublisherCreate(code="kab-cepat", name="Kabupaten Cepat")
        )
        client, secret = create_client(
            session, name="admin", scopes="admin", publisher_id=None, settings=settings
        )
        client_id = client.client_id
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    answers: list[httpx2.Response] = []

    async def ask(http: httpx2.AsyncClient) -> httpx2.Response:
        token = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        body = {"publisher": "kab-cepat", "peer": peer.url, "partner": "kota-lambat"}
        return await http.post("/api/v1/partnerships", json=body, headers=headers)

    with StallingPeer() as peer:
        _add_peer(engine, peer.url)
        took = _while_stalled(
            peer, engine, lambda: answers.append(_app_call(settings, engine, ask))
        )
    assert took < QUICK_SECONDS, f"a local write waited {took:.1f} s for the peer"
    (answer,) = answers
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "requested"


def _signed_notify(key: ECKey, peer_url: str) -> tuple[str, bytes]:
    now = int(time.time())
    body = b"{}"
    claims = {
        "iss": peer_url, "sub": peer_url, "aud": ISSUER, "iat": now, "exp": now + 60,
        "jti": uuid.uuid4().hex, "htm": "POST", "htu": "/federation/v1/notify",
        "bh": body_hash(body),
    }  # fmt: skip
    header = {"alg": "ES256", "kid": key.kid, "typ": FEDERATION_TYP}
    return jwt.encode(header, claims, key), body


def test_key_refetch_for_a_signed_request_does_not_block_writers(
    node: tuple[Settings, sa.Engine],
) -> None:
    settings, engine = node
    # The peer signs with a key this node has not cached yet: the node fetches the
    # peer's JWKS again, and the peer is slow to serve it.
    key = ECKey.generate_key("P-256", auto_kid=True)
    answers: list[httpx2.Response] = []
    with StallingPeer(jwks={"keys": [key.as_dict(private=False)]}) as peer:
        _add_peer(engine, peer.url)
        with session_scope(engine) as session:
            stored = session.exec(select(Peer)).one()
            stored.jwks_fetched_at = utcnow().replace(year=2000)  # stale: fetched again
            session.add(stored)
        token, body = _signed_notify(key, peer.url)

        async def notify(http: httpx2.AsyncClient) -> httpx2.Response:
            return await http.post(
                "/federation/v1/notify",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )

        took = _while_stalled(
            peer, engine, lambda: answers.append(_app_call(settings, engine, notify))
        )
    assert took < QUICK_SECONDS, f"a local write waited {took:.1f} s for the peer"
    (answer,) = answers
    assert answer.status_code == 202, answer.text


def test_key_refetch_for_a_token_request_does_not_block_writers(
    node: tuple[Settings, sa.Engine],
) -> None:
    settings, engine = node
    key = ECKey.generate_key("P-256", auto_kid=True)
    answers: list[httpx2.Response] = []
    with StallingPeer(jwks={"keys": [key.as_dict(private=False)]}) as peer:
        _add_peer(engine, peer.url)
        with session_scope(engine) as session:
            # Fetched two minutes ago, without this key: an unknown kid makes the node
            # fetch the peer's keys again.
            stored = session.exec(select(Peer)).one()
            stored.jwks_fetched_at = utcnow() - timedelta(minutes=2)
            session.add(stored)
            client, _ = create_client(
                session,
                name="Peer node",
                scopes="federation:read",
                publisher_id=None,
                auth_method="private_key_jwt",
                jwks_uri=f"{peer.url}/.well-known/jwks.json",
                node_id=peer.url,
            )
            client_id = client.client_id
        now = int(time.time())
        claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now,
                  "exp": now + 60, "jti": uuid.uuid4().hex}  # fmt: skip
        assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)

        async def token(http: httpx2.AsyncClient) -> httpx2.Response:
            return await http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:"
                    "jwt-bearer",
                    "client_assertion": assertion,
                },
            )

        took = _while_stalled(
            peer, engine, lambda: answers.append(_app_call(settings, engine, token))
        )
    assert took < QUICK_SECONDS, f"a local write waited {took:.1f} s for the peer"
    (answer,) = answers
    assert answer.status_code == 200, answer.text

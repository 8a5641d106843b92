"""A hostile peer — a real HTTP server on loopback — cannot put anything into the
mirror: every bad page is refused, its error recorded, and the mirror left as it was."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.federation import pull, transport
from registry.federation.sync import sync_peer
from registry.oauth.keys import KeyStore
from registry.peers import Peer

NOW = "2026-11-28T00:00:00+00:00"


class FakePeer:
    def __init__(self) -> None:
        self.behaviour = "valid"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.publisher_id = str(uuid.uuid4())
        self.app_id = str(uuid.uuid4())

    def page(self, app_url: str = "https://git.example/app", origin: str | None = None) -> bytes:
        origin = origin or self.url
        entries = [
            {"kind": "publisher", "op": "upsert", "id": self.publisher_id, "origin": self.url,
             "global_id": f"{self.url}/api/v1/publishers/{self.publisher_id}", "seq": 1,
             "data": {"code": "kota-palsu", "name": "Kota Palsu", "kind": "city",
                      "created_at": NOW, "updated_at": NOW}},
            {"kind": "app", "op": "upsert", "id": self.app_id, "origin": origin,
             "global_id": f"{origin}/api/v1/apps/{self.app_id}", "seq": 2,
             "data": {"publisher_id": self.publisher_id, "slug": "aplikasi", "name": "Aplikasi",
                      "url": app_url, "visibility": "public",
                      "created_at": NOW, "updated_at": NOW}},
        ]  # fmt: skip
        body = {"origin": self.url, "entries": entries, "next_cursor": "2", "has_more": False}
        return json.dumps(body).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                behaviour = fake.behaviour
                if behaviour == "slow":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    for _ in range(40):  # a byte at a time, never finishing in time
                        try:
                            self.wfile.write(b" ")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.2)
                    return
                if behaviour == "malformed":
                    body = b'{"origin": "' + fake.url.encode() + b'", "entries": [ {'
                elif behaviour == "oversized":
                    body = b'{"padding": "' + b"x" * (300 * 1024) + b'"}'
                elif behaviour == "other_origin":
                    body = fake.page(origin="http://127.0.0.1:9")
                elif behaviour == "javascript":
                    body = fake.page(app_url="javascript:alert(document.cookie)")
                else:
                    body = fake.page()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if behaviour != "oversized":  # sent chunked: the cap must hold while streaming
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> FakePeer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_peer() -> Iterator[FakePeer]:
    with FakePeer() as fake:
        yield fake


@pytest.fixture
def hostile(fake_peer, connection, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(transport, "TIMEOUT", httpx2.Timeout(1.0))
    monkeypatch.setattr(transport, "DEADLINE_SECONDS", 2.0)
    monkeypatch.setattr(transport, "PAGE_CAP", 64 * 1024)
    monkeypatch.setattr(pull, "PAGE_CAP", 64 * 1024)
    monkeypatch.setattr(transport, "BACKOFF_SECONDS", 0.01)
    with Session(connection, join_transaction_mode="create_savepoint") as session:
        session.add(
            Peer(
                node_id=fake_peer.url,
                name="Hostile",
                api_base=f"{fake_peer.url}/api/v1",
                issuer=fake_peer.url,
                jwks_uri=f"{fake_peer.url}/.well-known/jwks.json",
                feed_url=f"{fake_peer.url}/federation/v1/changes",
                token_endpoint=f"{fake_peer.url}/oauth/token",
            )
        )
        session.commit()
    # Registered as an operator would, the fake peer's loopback address allowed.
    allowed = settings.model_copy(update={"fetch_allow": ["127.0.0.0/8"]})
    return fake_peer, connection, allowed, KeyStore.open(tmp_path / "keys")


def _mirrored(connection: sa.Connection, origin: str) -> int:
    return int(
        connection.execute(
            sa.text("SELECT count(*) FROM apps WHERE origin = :o"), {"o": origin}
        ).scalar_one()
    )


def _peer(connection: sa.Connection, node_id: str) -> Peer:
    with Session(connection, join_transaction_mode="create_savepoint") as session:
        peer = session.exec(select(Peer).where(Peer.node_id == node_id)).one()
        session.expunge(peer)
        return peer


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("malformed", "not JSON"),
        ("oversized", "over the limit"),
        ("other_origin", "claims origin"),
        ("javascript", "http"),
        ("slow", "took over"),
    ],
)
def test_hostile_page_is_refused_and_recorded(hostile, behaviour, message):
    fake, connection, settings, keys = hostile
    fake.behaviour = behaviour
    result = sync_peer(connection, settings, keys, fake.url)
    assert result.error is not None
    assert message in result.error
    assert _mirrored(connection, fake.url) == 0
    peer = _peer(connection, fake.url)
    assert peer.cursor == "0"
    assert peer.last_error is not None
    assert message in peer.last_error
    assert peer.last_success_at is None


def test_the_same_peer_behaving_is_mirrored(hostile):
    # The control: the fake peer's valid page is taken, so the refusals above are real.
    fake, connection, settings, keys = hostile
    result = sync_peer(connection, settings, keys, fake.url)
    assert result.error is None
    assert _mirrored(connection, fake.url) == 1
    assert _peer(connection, fake.url).cursor == "2"

"""Pulling from a scripted peer (a real HTTP server on loopback): pages applied in bulk
keep the mirror and its item count right through updates, tombstones and replays, and
the feed's access token is reused across runs and renewed when the peer refuses it."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.federation import tokens, transport
from registry.federation.sync import sync_peer
from registry.oauth.keys import KeyStore
from registry.peers import Peer
from registry.sharing.models import Direction, Partnership, PartnershipStatus

NOW = "2026-11-28T00:00:00+00:00"


class ScriptedPeer:
    """Serves ``pages[after]`` as the feed and grants tokens it then accepts."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.pages: dict[str, dict[str, Any]] = {}
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.feed_tokens: list[str | None] = []

    def entry(self, kind: str, entity_id: str, data: dict[str, Any] | None = None):
        """An upsert of ``data``, or without it a tombstone."""
        path = f"{kind}s/{entity_id}"
        if kind == "release" and data is not None:
            path = f"apps/{data['app_id']}/releases/{entity_id}"
        entry: dict[str, Any] = {
            "kind": kind, "op": "upsert" if data is not None else "delete", "id": entity_id,
            "origin": self.url, "global_id": f"{self.url}/api/v1/{path}",
        }  # fmt: skip
        if data is not None:
            entry["data"] = {"created_at": NOW, "updated_at": NOW, **data}
        return entry

    def page(self, after: str, next_cursor: str, entries: list[dict[str, Any]]) -> None:
        self.pages[after] = {"origin": self.url, "entries": entries,
                             "next_cursor": next_cursor, "has_more": False}  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer.tokens_issued += 1
                token = f"token-{peer.tokens_issued}"
                peer.valid_tokens.add(token)
                self._send(200, {"access_token": token, "token_type": "Bearer",
                                 "expires_in": 300})  # fmt: skip

            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                token = auth.removeprefix("Bearer ") if auth else None
                peer.feed_tokens.append(token)
                if token is not None and token not in peer.valid_tokens:
                    self._send(401, {"detail": "invalid token"})
                    return
                after = parse_qs(urlsplit(self.path).query).get("after", ["0"])[0]
                self._send(200, peer.pages[after])

        return Handler

    def __enter__(self) -> ScriptedPeer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peer(connection, settings, tmp_path, monkeypatch) -> Iterator[tuple[ScriptedPeer, Any]]:
    monkeypatch.setattr(transport, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(tokens, "_TOKENS", {})
    with ScriptedPeer() as scripted:
        with Session(connection, join_transaction_mode="create_savepoint") as session:
            session.add(
                Peer(
                    node_id=scripted.url,
                    name="Scripted",
                    api_base=f"{scripted.url}/api/v1",
                    issuer=scripted.url,
                    jwks_uri=f"{scripted.url}/.well-known/jwks.json",
                    feed_url=f"{scripted.url}/federation/v1/changes",
                    token_endpoint=f"{scripted.url}/oauth/token",
                )
            )
            session.commit()
        yield scripted, KeyStore.open(tmp_path / "keys")


@pytest.fixture
def peer_settings(settings):
    """The node's settings with the scripted peer's loopback address allowed, as an
    operator would allow a peer on the node's own network."""
    return settings.model_copy(update={"fetch_allow": ["127.0.0.0/8"]})


def _peer_row(connection: sa.Connection, node_id: str) -> Peer:
    with Session(connection, join_transaction_mode="create_savepoint") as session:
        row = session.exec(select(Peer).where(Peer.node_id == node_id)).one()
        session.expunge(row)
        return row


def _live(connection: sa.Connection, origin: str) -> int:
    return sum(
        connection.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE origin = :o AND deleted_at IS NULL"),
            {"o": origin},
        ).scalar_one()
        for table in ("publishers", "apps", "releases", "datasets", "distributions", "adoptions")
    )


def test_updates_tombstones_and_replays_keep_the_mirror_and_its_count(
    peer, connection, peer_settings
):
    scripted, keys = peer
    pub, app_a, app_b, release = (str(uuid.uuid4()) for _ in range(4))
    publisher = scripted.entry("publisher", pub, {"code": "kota-palsu", "name": "Kota Palsu"})

    def app(app_id: str, name: str) -> dict[str, Any]:
        data = {
            "publisher_id": pub,
            "slug": name.lower().replace(" ", "-"),
            "name": name,
            "visibility": "public",
            "description": {"id": {"short_description": "Aplikasi"}},
            "tags": ["desa"],
        }
        return scripted.entry("app", app_id, data)

    first = [
        publisher,
        app(app_a, "Satu"),
        app(app_b, "Dua"),
        scripted.entry("release", release, {"app_id": app_a, "version": "1.0.0"}),
    ]
    scripted.page("0", "4", first)
    scripted.page("4", "6", [scripted.entry("app", app_a), app(app_b, "Dua Baru")])

    result = sync_peer(connection, peer_settings, keys, scripted.url)
    assert result.error is None, result.error
    assert (result.upserts, result.items) == (4, 4)
    assert _peer_row(connection, scripted.url).items == _live(connection, scripted.url) == 4

    # An update, and a tombstone whose children go with it.
    result = sync_peer(connection, peer_settings, keys, scripted.url)
    assert result.error is None, result.error
    assert (result.upserts, result.deletes) == (1, 1)
    assert _peer_row(connection, scripted.url).items == _live(connection, scripted.url) == 2
    name, description = connection.execute(
        sa.text("SELECT name, description FROM apps WHERE origin = :o AND deleted_at IS NULL"),
        {"o": scripted.url},
    ).one()
    assert name == "Dua Baru"
    description = json.loads(description) if isinstance(description, str) else description
    assert description == {"id": {"short_description": "Aplikasi", "long_description": None,
                                  "features": []}}  # fmt: skip

    # Reading the feed again from the start brings back what it holds, once each.
    connection.execute(sa.text("UPDATE peers SET cursor = '0' WHERE node_id = :n"),
                       {"n": scripted.url})  # fmt: skip
    result = sync_peer(connection, peer_settings, keys, scripted.url)
    assert result.error is None, result.error
    assert _peer_row(connection, scripted.url).items == _live(connection, scripted.url) == 4
    rows = connection.execute(
        sa.text("SELECT count(*) FROM apps WHERE origin = :o"), {"o": scripted.url}
    ).scalar_one()
    assert rows == 2


def test_the_feed_token_is_reused_and_renewed_when_refused(
    peer, connection, peer_settings, make_publisher
):
    scripted, keys = peer
    local = make_publisher("kota-pariaman")
    with Session(connection, join_transaction_mode="create_savepoint") as session:
        session.add(
            Partnership(
                publisher_id=local.id,
                peer_node_id=scripted.url,
                partner_code="kota-palsu",
                direction=Direction.outgoing,
                status=PartnershipStatus.active,
            )
        )
        session.commit()
    pub = str(uuid.uuid4())
    scripted.page("0", "1", [scripted.entry("publisher", pub, {"code": "kota-palsu",
                                                               "name": "Kota Palsu"})])  # fmt: skip
    scripted.page("1", "1", [])

    for _ in range(3):
        result = sync_peer(connection, peer_settings, keys, scripted.url)
        assert result.error is None, result.error
        assert result.mode == "token"
    assert scripted.tokens_issued == 1
    assert scripted.feed_tokens == ["token-1"] * 3

    # The peer forgets the token (restarted, keys rotated): one fresh token, same run.
    scripted.valid_tokens.clear()
    result = sync_peer(connection, peer_settings, keys, scripted.url)
    assert result.error is None, result.error
    assert scripted.tokens_issued == 2
    assert scripted.feed_tokens[-2:] == ["token-1", "token-2"]

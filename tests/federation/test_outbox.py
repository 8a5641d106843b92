"""The outbox of signed notices: claimed once, sent without a transaction, each
outcome recorded; an unreachable peer is tried again later, with backoff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from registry.db import session_scope, utcnow
from registry.federation import outbox, peers
from registry.federation.transport import PeerError
from registry.oauth.keys import KeyStore
from registry.outbox import OutboxMessage, enqueue


@pytest.fixture
def queued(connection) -> list[str]:
    with session_scope(connection) as session:
        for n in range(2):
            enqueue(
                session,
                node_id="http://127.0.0.1:9",
                path="/federation/v1/notify",
                payload={"n": n},
                dedupe_key=f"notify:{n}",
            )
    return ["notify:0", "notify:1"]


def _queue(connection, payload: dict | None = None) -> None:
    """One notice to an unreachable address, under the key ``notify``."""
    with session_scope(connection) as session:
        enqueue(
            session,
            node_id="http://127.0.0.1:9",
            path="/federation/v1/notify",
            payload=payload or {},
            dedupe_key="notify",
        )


def _messages(connection) -> list[OutboxMessage]:
    with Session(connection, join_transaction_mode="create_savepoint") as session:
        rows = list(session.exec(select(OutboxMessage).order_by(OutboxMessage.dedupe_key)))
        for row in rows:
            session.expunge(row)
        return rows


def test_a_claimed_message_is_not_claimed_again_until_its_claim_runs_out(connection, queued):
    first = outbox.claim(connection)
    assert sorted(m.dedupe_key for m in first) == queued
    assert outbox.claim(connection) == []
    for message in _messages(connection):
        assert message.next_attempt_at > utcnow() + outbox.CLAIM_FOR - timedelta(seconds=30)


def test_an_unreachable_peer_is_tried_again_later(connection, settings, tmp_path, monkeypatch):
    _queue(connection)

    def unreachable(*args, **kwargs):
        raise PeerError("http://127.0.0.1:9: ConnectError")

    monkeypatch.setattr(outbox, "send_signed", unreachable)
    keys = KeyStore.open(tmp_path / "keys")
    assert outbox.drain(connection, settings, keys) == 0
    (message,) = _messages(connection)
    assert message.attempts == 1
    assert message.delivered_at is None
    assert "ConnectError" in (message.last_error or "")
    assert message.next_attempt_at > utcnow() + timedelta(seconds=10)
    # Not due yet: a second drain does not try it.
    assert outbox.drain(connection, settings, keys) == 0
    assert _messages(connection)[0].attempts == 1

    monkeypatch.setattr(outbox, "send_signed", lambda *args, **kwargs: {})
    with session_scope(connection) as session:
        stored = session.exec(select(OutboxMessage)).one()
        stored.next_attempt_at = utcnow()
        session.add(stored)
    assert outbox.drain(connection, settings, keys) == 1
    (message,) = _messages(connection)
    assert message.delivered_at is not None
    assert message.last_error is None


def _due_now(connection) -> None:
    with session_scope(connection) as session:
        for stored in session.exec(select(OutboxMessage)):
            stored.next_attempt_at = utcnow()
            session.add(stored)


def test_a_notice_the_peer_keeps_refusing_is_given_up_and_counted(
    connection, settings, tmp_path, monkeypatch
):
    _queue(connection)

    def refused(*args, **kwargs):
        raise PeerError("http://127.0.0.1:9: answered 409: not allowed", status=409, retry=False)

    monkeypatch.setattr(outbox, "send_signed", refused)
    keys = KeyStore.open(tmp_path / "keys")
    for attempt in range(1, outbox.GIVE_UP_AFTER + 1):
        _due_now(connection)
        assert outbox.drain(connection, settings, keys) == 0
        (message,) = _messages(connection)
        assert message.attempts == attempt
        # Asked again until the last refusal: the peer may not have added us yet.
        assert (message.refused_at is not None) == (attempt == outbox.GIVE_UP_AFTER)

    _due_now(connection)
    assert outbox.claim(connection) == []  # given up: never sent again
    with session_scope(connection) as session:
        assert peers.refused_notices(session) == {"http://127.0.0.1:9": 1}
    # A newer notice about the same thing replaces it and is sent in its turn.
    _queue(connection, {"n": 2})
    assert [m.payload for m in outbox.claim(connection)] == [{"n": 2}]
    with session_scope(connection) as session:
        assert peers.refused_notices(session) == {}


def test_an_unreachable_peer_is_never_given_up(connection, settings, tmp_path, monkeypatch):
    _queue(connection)

    def unreachable(*args, **kwargs):
        raise PeerError("http://127.0.0.1:9: answered 503", status=503)

    monkeypatch.setattr(outbox, "send_signed", unreachable)
    keys = KeyStore.open(tmp_path / "keys")
    for _ in range(outbox.GIVE_UP_AFTER + 2):
        _due_now(connection)
        outbox.drain(connection, settings, keys)
    (message,) = _messages(connection)
    assert message.attempts == outbox.GIVE_UP_AFTER + 2
    assert message.refused_at is None

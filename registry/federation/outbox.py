"""Signed notices to peers, kept in the database until the peer accepts them.

Writers call ``enqueue`` inside their own transaction, so a notice exists exactly when
the change it announces was committed. ``drain`` (run by ``lumbung sync`` and the
background worker) sends what is due, each message in its own unit of work, and backs
off on failure.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.db import Bind, session_scope, utcnow
from registry.federation import signing
from registry.federation.models import OutboxMessage
from registry.federation.transport import PeerError, new_client, request_json
from registry.oauth.keys import KeyStore
from registry.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
BATCH = 100


def enqueue(
    session: Session, *, node_id: str, path: str, payload: dict[str, Any], dedupe_key: str
) -> OutboxMessage:
    """Queue a notice; it replaces an unsent one about the same thing."""
    session.execute(
        sa.delete(OutboxMessage).where(
            col(OutboxMessage.dedupe_key) == dedupe_key,
            col(OutboxMessage.node_id) == node_id,
            col(OutboxMessage.delivered_at).is_(None),
        )
    )
    message = OutboxMessage(node_id=node_id, path=path, payload=payload, dedupe_key=dedupe_key)
    session.add(message)
    session.flush()
    return message


def send_signed(
    settings: Settings,
    keys: KeyStore,
    *,
    node_id: str,
    path: str,
    payload: dict[str, Any],
    accept: tuple[int, ...] = (200, 201, 202),
) -> Any:
    """POST a signed federation request to a peer; return its JSON answer."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    token = signing.federation_request(
        settings, keys, audience=node_id, method="POST", path=path, body=body
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with new_client() as client:
        _, answer = request_json(
            client, "POST", node_id + path, headers=headers, content=body, accept=accept
        )
    return answer


def drain(bind: Bind, settings: Settings, keys: KeyStore, node_id: str | None = None) -> int:
    """Send every due message (to one peer, or to all); return how many were accepted."""
    from registry.sharing.models import Adoption

    with session_scope(bind, write=False) as session:
        stmt = select(OutboxMessage.id).where(
            col(OutboxMessage.delivered_at).is_(None),
            col(OutboxMessage.next_attempt_at) <= utcnow(),
        )
        if node_id is not None:
            stmt = stmt.where(OutboxMessage.node_id == node_id)
        due = list(session.exec(stmt.order_by(col(OutboxMessage.created_at)).limit(BATCH)))
    sent = 0
    for message_id in due:
        with session_scope(bind) as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.delivered_at is not None:
                continue
            try:
                send_signed(
                    settings,
                    keys,
                    node_id=message.node_id,
                    path=message.path,
                    payload=message.payload,
                )
            except PeerError as exc:
                message.attempts += 1
                delay = min(timedelta(seconds=10 * 2 ** min(message.attempts, 12)), MAX_BACKOFF)
                message.next_attempt_at = utcnow() + delay
                message.last_error = str(exc)[:2000]
                log.info("notice to %s not delivered: %s", message.node_id, exc)
                session.add(message)
                continue
            message.delivered_at = utcnow()
            message.last_error = None
            session.add(message)
            if message.dedupe_key.startswith("adoption:"):
                # A plain UPDATE: delivery is bookkeeping, not a change to feed.
                session.execute(
                    sa.update(Adoption)
                    .where(col(Adoption.id) == uuid.UUID(str(message.payload["id"])))
                    .values(delivered_at=utcnow())
                )
            sent += 1
    return sent

"""Sending signed notices to peers: the outbox's (``registry.outbox``), and the one
request that waits for the peer's answer.

``drain`` (run by ``lumbung sync`` and the background worker) claims what is due in a
short transaction, sends each message with no transaction open, records each outcome in
a short transaction of its own, and backs off on failure. A peer that is unreachable or
failing is asked again for as long as it takes; one that answers with a refusal is asked
``GIVE_UP_AFTER`` times (about a day, so that a peer which has not yet added this node,
or has not yet seen a key rotation, can still accept it), and then the notice is
marked refused and left for the operator (``lumbung peers list`` counts them).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from registry.db import Bind, rows_matched, session_scope, transaction, utcnow
from registry.federation import signing
from registry.federation.transport import PeerError, new_client, request_json
from registry.oauth.keys import KeyStore
from registry.outbox import OutboxMessage
from registry.settings import Settings
from registry.sharing.delivery import NotDelivered
from registry.sharing.models import Adoption

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
# Refusals (a 4xx other than 429) before a notice is given up: ten quick retries,
# then hourly ones, about a day in all.
GIVE_UP_AFTER = 30
BATCH = 100
# A claimed message is not sent by anyone else for this long: longer than a request
# to a peer may take (``transport.DEADLINE_SECONDS``).
CLAIM_FOR = timedelta(minutes=2)


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
    with new_client(settings.fetch_allow) as client:
        _, answer = request_json(
            client, "POST", node_id + path, headers=headers, content=body, accept=accept
        )
    return answer


def send_now(
    settings: Settings, keys: KeyStore, *, node_id: str, path: str, payload: dict[str, Any]
) -> None:
    """:func:`send_signed` as the sharing domain asks for it (``registry.sharing.delivery``):
    a peer that does not take the notice raises ``NotDelivered``."""
    try:
        send_signed(settings, keys, node_id=node_id, path=path, payload=payload)
    except PeerError as exc:
        raise NotDelivered(str(exc)) from exc


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    node_id: str
    path: str
    payload: dict[str, Any]
    dedupe_key: str
    attempts: int


def claim(bind: Bind, node_id: str | None = None) -> list[_Claimed]:
    """Take the due messages (to one peer, or to all) in one short transaction: each is
    put off by ``CLAIM_FOR``, so no other worker sends it meanwhile, and one whose
    sender died is sent again once that runs out."""
    now = utcnow()
    claimed: list[_Claimed] = []
    with session_scope(bind) as session:
        stmt = select(OutboxMessage).where(
            col(OutboxMessage.delivered_at).is_(None),
            col(OutboxMessage.refused_at).is_(None),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        if node_id is not None:
            stmt = stmt.where(OutboxMessage.node_id == node_id)
        due = session.exec(stmt.order_by(col(OutboxMessage.created_at)).limit(BATCH)).all()
        for message in due:
            # Conditional on the time read: of two workers claiming the same message at
            # once, the second updates nothing and leaves it to the first.
            taken = session.execute(
                sa.update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == message.id,
                    col(OutboxMessage.next_attempt_at) == message.next_attempt_at,
                    col(OutboxMessage.delivered_at).is_(None),
                )
                .values(next_attempt_at=now + CLAIM_FOR)
                .execution_options(synchronize_session=False)
            )
            if rows_matched(taken) == 1:
                claimed.append(
                    _Claimed(
                        message.id,
                        message.node_id,
                        message.path,
                        dict(message.payload),
                        message.dedupe_key,
                        message.attempts,
                    )
                )
    return claimed


def drain(bind: Bind, settings: Settings, keys: KeyStore, node_id: str | None = None) -> int:
    """Send every due message (to one peer, or to all); return how many were accepted.

    Each message is claimed, sent and recorded in three steps, and the sending happens
    with no transaction open: a slow or dead peer must not hold this node's write lock
    (DESIGN §7) for as long as it takes to answer.
    """
    sent = 0
    for message in claim(bind, node_id):
        try:
            send_signed(
                settings, keys, node_id=message.node_id, path=message.path, payload=message.payload
            )
        except PeerError as exc:
            log.info("notice to %s not delivered: %s", message.node_id, exc)
            _record_failure(bind, message, exc)
            continue
        _record_delivery(bind, message)
        sent += 1
    return sent


def _record_failure(bind: Bind, message: _Claimed, exc: PeerError) -> None:
    attempts = message.attempts + 1
    delay = min(timedelta(seconds=10 * 2 ** min(attempts, 12)), MAX_BACKOFF)
    refused = not exc.retry and attempts >= GIVE_UP_AFTER
    now = utcnow()
    if refused:
        log.warning(
            "notice %s to %s given up after %d refusals: %s",
            message.dedupe_key,
            message.node_id,
            attempts,
            exc,
        )
    with transaction(bind) as connection:
        connection.execute(
            sa.update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id, col(OutboxMessage.delivered_at).is_(None))
            .values(
                attempts=attempts,
                next_attempt_at=now + delay,
                last_error=str(exc)[:2000],
                refused_at=now if refused else None,
            )
        )


def _record_delivery(bind: Bind, message: _Claimed) -> None:
    now = utcnow()
    with transaction(bind) as connection:
        # A message replaced meanwhile by a newer one about the same thing is gone;
        # the newer one is sent in its turn.
        connection.execute(
            sa.update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id)
            .values(delivered_at=now, last_error=None)
        )
        if message.dedupe_key.startswith("adoption:"):
            # A plain UPDATE: delivery is bookkeeping, not a change to feed.
            connection.execute(
                sa.update(Adoption)
                .where(col(Adoption.id) == uuid.UUID(str(message.payload["id"])))
                .values(delivered_at=now)
            )

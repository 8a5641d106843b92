"""The outbox: signed notices to peers, kept in the database until the peer accepts
them.

Writers (the sharing domain's partnership and adoption rules) call :func:`enqueue`
inside their own transaction, so a notice exists exactly when the change it announces
was committed. Sending is the federation domain's (``registry.federation.outbox``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col

from registry.db import JSONDoc, timestamp_field, utcnow, uuid7


class OutboxMessage(SQLModel, table=True):
    """A signed notice waiting to reach a peer (an adoption, a partnership's new
    status). Retried with backoff until the peer accepts it, or, when the peer keeps
    refusing it, given up (``refused_at``); a newer message with the same
    ``dedupe_key`` replaces one not yet sent."""

    __tablename__ = "federation_outbox"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    node_id: str = Field(max_length=2048, index=True)
    path: str = Field(max_length=500)
    payload: dict[str, Any] = Field(sa_type=JSONDoc)
    dedupe_key: str = Field(max_length=200, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = timestamp_field(default_factory=utcnow, index=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = timestamp_field(default_factory=utcnow)
    delivered_at: datetime | None = timestamp_field(default=None)
    refused_at: datetime | None = timestamp_field(default=None)


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

"""``Idempotency-Key`` on creates: the same key and body give the same response and
never a second row.

The stored response is written in the same transaction as the row it describes, so
either both exist or neither does; a unique constraint on (client, key) makes a
concurrent duplicate fail instead of creating twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from registry.db import JSONDoc, timestamp_field, utcnow, uuid7
from registry.errors import ValidationFailed, field_error


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("client_id", "key"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    client_id: str = Field(max_length=64)
    key: str = Field(max_length=255)
    method: str = Field(max_length=8)
    path: str = Field(max_length=2048)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: Any = Field(sa_type=JSONDoc)
    created_at: datetime = timestamp_field(default_factory=utcnow, index=True)


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def find(session: Session, client_id: str, key: str, print_: str) -> IdempotencyRecord | None:
    """The earlier response for this key, or None; a reused key with another body is refused."""
    record = session.exec(
        select(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
        )
    ).first()
    if record is not None and record.fingerprint != print_:
        raise ValidationFailed(
            "this Idempotency-Key was already used with a different request",
            errors=[field_error(["header", "Idempotency-Key"], "reused with a different body")],
        )
    return record


def remember(
    session: Session,
    *,
    client_id: str,
    key: str,
    method: str,
    path: str,
    print_: str,
    status_code: int,
    body: Any,
) -> None:
    session.add(
        IdempotencyRecord(
            client_id=client_id,
            key=key,
            method=method,
            path=path,
            fingerprint=print_,
            status_code=status_code,
            body=body,
        )
    )


def exists(session: Session, client_id: str, key: str) -> bool:
    """Whether this client already used ``key``: a request carrying it may be a retry
    whose first response was lost, to be answered by replaying that response."""
    found = session.exec(
        select(IdempotencyRecord.id).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
        )
    ).first()
    return found is not None

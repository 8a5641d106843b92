"""``Idempotency-Key`` on creates: the same key and body give the same response and
never a second row.

The stored response is written in the same transaction as the row it describes, so
either both exist or neither does. A request claims its key before it creates
(:func:`claim`): a concurrent request with the same key waits for the first to finish
and replays its response instead of creating twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from registry.db import JSONDoc, table_of, timestamp_field, utcnow, uuid7
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


def claim(
    session: Session, *, client_id: str, key: str, method: str, path: str, print_: str
) -> IdempotencyRecord | None:
    """Take ``key`` for this request, or return the response of the request that took
    it first; a reused key with another body is refused.

    The claim is an insert that does nothing on conflict. While another transaction
    holding the same key is still open, the database makes this insert wait on the
    unique index; once that one commits, the insert conflicts and its stored response
    is read and replayed. So two concurrent requests with one key never both create,
    and the second is answered as a retry, not with a 409. If the first rolls back,
    the claim passes and this request creates.
    """
    table = table_of(IdempotencyRecord)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {
        "id": uuid7(),
        "client_id": client_id,
        "key": key,
        "method": method,
        "path": path,
        "fingerprint": print_,
        # Filled in by ``complete`` in the same transaction, before anyone can see it.
        "status_code": 0,
        "body": {},
        "created_at": utcnow(),
    }
    claimed = session.execute(
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["client_id", "key"])
        .returning(table.c.id)
    ).first()
    if claimed is not None:
        return None
    record = session.exec(
        select(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
        )
    ).one()
    if record.fingerprint != print_:
        raise ValidationFailed(
            "this Idempotency-Key was already used with a different request",
            errors=[field_error(["header", "Idempotency-Key"], "reused with a different body")],
        )
    return record


def complete(session: Session, *, client_id: str, key: str, status_code: int, body: Any) -> None:
    """Store the response of the request that claimed ``key``."""
    session.execute(
        sa.update(IdempotencyRecord)
        .where(
            col(IdempotencyRecord.client_id) == client_id,
            col(IdempotencyRecord.key) == key,
        )
        .values(status_code=status_code, body=body)
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

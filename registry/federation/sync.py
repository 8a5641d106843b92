"""Bringing the mirrors of peers up to date: the run of one peer, and of all of them.

Per peer: take the lease (``registry.federation.lease``), send the notices waiting in
the outbox, then pull the feed from the stored cursor (``registry.federation.pull``),
each page applied together with its cursor in one transaction
(``registry.federation.apply``). A crash at any point resumes from the last committed
cursor without losing or doubling anything. Whatever stops a run is recorded on the
peer, not raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.db import Bind, session_scope, utcnow
from registry.federation import outbox
from registry.federation.errors import LeaseBusy, SyncError
from registry.federation.lease import lease_holder, release_lease, take_lease
from registry.federation.models import MIRROR_MODELS
from registry.federation.pull import Progress, SyncResult, load_peer, pull
from registry.oauth.keys import KeyStore
from registry.peers import Peer
from registry.settings import Settings
from registry.sharing import service as sharing

log = logging.getLogger(__name__)


def sync_peer(
    bind: Bind,
    settings: Settings,
    keys: KeyStore,
    node_id: str,
    *,
    progress: Progress | None = None,
    holder: str | None = None,
) -> SyncResult:
    """Bring the mirror of one peer up to date. Errors are recorded on the peer and
    returned in the result; ``LeaseBusy`` is raised when another process syncs it."""
    holder = holder or lease_holder()
    with _sync_connection(bind) as connection:
        if not take_lease(connection, node_id, holder):
            raise LeaseBusy(f"{node_id} is being synced by another process")
        result = SyncResult(node_id)
        try:
            with session_scope(connection) as session:
                if sharing.any_due(session):
                    sharing.expire_due(session)
                peer = load_peer(session, node_id)
                peer.last_attempt_at = utcnow()
                peer.sync_requested_at = None
                session.add(peer)
            outbox.drain(connection, settings, keys, node_id)
            pull(connection, settings, keys, node_id, holder, result, progress or Progress())
        except SyncError as exc:
            result.error = str(exc)
        except Exception as exc:  # a bug must not kill the worker; it is recorded instead
            log.exception("sync of %s failed", node_id)
            result.error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            with session_scope(connection) as session:
                _record(session, result)
            release_lease(connection, node_id, holder)
    return result


def _record(session: Session, result: SyncResult) -> None:
    """Note on the peer how the run ended, and how many of its items are mirrored."""
    peer = load_peer(session, result.node_id)
    if result.error is None:
        peer.last_success_at = utcnow()
        peer.last_error = None
        peer.remaining = 0
    else:
        peer.last_error = result.error[:4000]
        peer.last_error_at = utcnow()
    if result.from_start:
        # Each page keeps the count as it goes; a pull of the whole feed
        # also counts afresh, so the figure can never drift for long.
        peer.items = _count_items(session, result.node_id)
    result.items = peer.items
    session.add(peer)


# For the connection of a sync run on SQLite (see ``_sync_connection``).
_PRAGMAS = {
    # In WAL mode, NORMAL makes a commit durable against a crash of this process
    # (what the crash-safety guarantee is about) without an fsync per page; a power
    # cut may lose the last pages, and with them, in the same transactions, the
    # cursor that would have skipped them, so the next run fetches them again.
    "synchronous": "NORMAL",
}


@contextmanager
def _sync_connection(bind: Bind) -> Iterator[sa.Connection]:
    """One connection for a whole run: each page is still its own transaction, but
    the run does not pay for opening (and, on SQLite, checkpointing) a connection per
    unit of work."""
    if isinstance(bind, sa.Connection):
        yield bind
        return
    with bind.connect() as connection:
        if connection.dialect.name != "sqlite":
            yield connection
            return
        # Pragmas go to the driver's connection: outside any transaction, which
        # SQLAlchemy would otherwise begin first.
        raw = connection.connection.driver_connection
        assert raw is not None
        before = [raw.execute(f"PRAGMA {name}").fetchone()[0] for name in _PRAGMAS]
        for name, value in _PRAGMAS.items():
            raw.execute(f"PRAGMA {name}={value}")
        try:
            yield connection
        finally:
            if not connection.invalidated and not connection.in_transaction():
                for name, value in zip(_PRAGMAS, before, strict=True):
                    raw.execute(f"PRAGMA {name}={int(value)}")


def _count_items(session: Session, node_id: str) -> int:
    total = 0
    for model in MIRROR_MODELS:
        table = model.__table__
        total += session.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.origin == node_id, table.c.deleted_at.is_(None))
        ).scalar_one()
    return int(total)


def sync_all(
    bind: Bind, settings: Settings, keys: KeyStore, *, due_only: bool = False
) -> list[SyncResult]:
    with session_scope(bind, write=False) as session:
        peers = list(session.exec(select(Peer).order_by(col(Peer.node_id))).all())
    results = []
    now = utcnow()
    for peer in peers:
        if due_only and not _due(peer, settings, now):
            continue
        try:
            results.append(sync_peer(bind, settings, keys, peer.node_id))
        except LeaseBusy:
            continue
    return results


def _due(peer: Peer, settings: Settings, now: datetime) -> bool:
    if peer.sync_requested_at is not None:
        return True
    if peer.last_attempt_at is None:
        return True
    return bool(now - peer.last_attempt_at >= timedelta(seconds=settings.sync_interval))

"""The sync lease of a peer: of all the processes of a node (each worker of
``lumbung serve``, a ``lumbung sync`` started by hand), one at a time pulls a given peer.

The lease is two columns of the peer's row, taken by one atomic ``UPDATE``. It runs out
after ``LEASE_FOR``, so a process that died holding it blocks the peer only that long;
each page applied renews it in the statement that moves the cursor
(``registry.federation.apply.apply_page``).
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from registry.db import Bind, rows_matched, session_scope, utcnow
from registry.peers import Peer

LEASE_FOR = timedelta(seconds=120)


def lease_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def take_lease(bind: Bind, node_id: str, holder: str) -> bool:
    """Atomically take (or renew) the peer's lease; False if another holds it."""
    now = utcnow()
    with session_scope(bind) as session:
        result = session.execute(
            sa.update(Peer)
            .where(
                col(Peer.node_id) == node_id,
                sa.or_(
                    col(Peer.lease_holder).is_(None),
                    col(Peer.lease_expires_at) < now,
                    col(Peer.lease_holder) == holder,
                ),
            )
            .values(lease_holder=holder, lease_expires_at=now + LEASE_FOR)
        )
        return bool(rows_matched(result))


def release_lease(bind: Bind, node_id: str, holder: str) -> None:
    with session_scope(bind) as session:
        session.execute(
            sa.update(Peer)
            .where(col(Peer.node_id) == node_id, col(Peer.lease_holder) == holder)
            .values(lease_holder=None, lease_expires_at=None)
        )

"""Hooks for writes that bypass the ORM session.

Most writes go through a session, and the search index follows them with a flush
hook. Federation sync writes mirrors in bulk with Core statements (one statement per
page), which no session hook sees; it reports the rows it wrote here, inside its own
transaction, and whatever keeps derived data (the search index) registers a listener
at start-up (``registry.startup.start``). Core modules cannot import the domains above them,
so the hook is handed down this way rather than called directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import sqlalchemy as sa

RowsWritten = Callable[[sa.Connection, str, Sequence[uuid.UUID]], None]

_listeners: list[RowsWritten] = []


def on_rows_written(listener: RowsWritten) -> RowsWritten:
    """Register ``listener(connection, table_name, ids)``; called for every bulk write."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def rows_written(connection: sa.Connection, table: str, ids: Sequence[uuid.UUID]) -> None:
    """Tell listeners that rows ``ids`` of ``table`` were inserted, changed or
    soft-deleted on ``connection``, in the transaction still open there."""
    if not ids:
        return
    for listener in _listeners:
        listener(connection, table, ids)

"""Why the sync of a peer stopped. ``sync_peer`` records the message of a
``SyncError`` on the peer (``lumbung peer list`` shows it) instead of raising it."""

from __future__ import annotations


class SyncError(Exception):
    """The sync of a peer stopped; the message says why."""


class LeaseBusy(SyncError):
    """Another process holds the peer's lease and is syncing it now."""


class TokenRejected(SyncError):
    """The peer answered 401 to a token it had granted."""

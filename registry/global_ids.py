"""Global ids: every entity's URL on the node that maintains it, its origin.

A mirror keeps its origin's id, so a global id names the same entity on every node
that holds it. Built here only: the API's answers, the feed, the DCAT-AP documents
and search all say it, and a peer's feed entries are checked against it.
"""

from __future__ import annotations

import uuid
from typing import Literal

Kind = Literal["publisher", "app", "dataset", "release", "distribution", "adoption"]


def global_id(
    origin: str, kind: Kind, id: uuid.UUID | str, parent_id: uuid.UUID | str | None = None
) -> str:
    """The URL of the ``kind`` ``id`` on ``origin`` (a node id: its base URL). A release
    and a distribution sit under their app or dataset, ``parent_id``."""
    base = f"{origin}/api/v1"
    if kind == "release":
        return f"{base}/apps/{parent_id}/releases/{id}"
    if kind == "distribution":
        return f"{base}/datasets/{parent_id}/distributions/{id}"
    return f"{base}/{kind}s/{id}"

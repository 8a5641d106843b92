"""The assertion ids already seen, and the entities a feed carries. (The peers and
the outbox, which the sharing domain uses too, are in ``registry.peers`` and
``registry.outbox``.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.db import timestamp_field
from registry.sharing.models import Adoption


class SeenAssertion(SQLModel, table=True):
    """A signed assertion (client assertion or federation request) already used,
    kept until it expires so that it is accepted once, across every worker."""

    __tablename__ = "seen_assertions"

    key: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = timestamp_field(index=True)


# The entities a feed carries, by kind, parents before children: a page lists them in
# this order when they share a change, and a mirror applies them in it.
KINDS: dict[str, Any] = {
    "publisher": Publisher,
    "app": App,
    "dataset": Dataset,
    "release": Release,
    "distribution": Distribution,
    "adoption": Adoption,
}
MIRROR_MODELS = tuple(KINDS.values())

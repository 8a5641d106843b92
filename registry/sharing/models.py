"""Partnerships between a local publisher and a publisher on a peer node, adoptions:
a publisher's record that it uses an app, and exposures: who could ever see an item."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlmodel import Field, SQLModel

from registry.db import Tracked, timestamp_field
from registry.tables import Mirrored, enum_column, feed_index


class PartnershipStatus(enum.StrEnum):
    requested = "requested"
    active = "active"
    rejected = "rejected"
    withdrawn = "withdrawn"
    revoked = "revoked"
    expired = "expired"


class Direction(enum.StrEnum):
    # This node sent the request (its publisher asked) or received it.
    outgoing = "outgoing"
    incoming = "incoming"


class Partnership(Tracked, table=True):
    """One side's record of a partnership; both nodes keep one under the same id.

    The row is tracked so that every change of its status takes a place in the
    change sequence: the feed uses that to re-send (or tombstone) the ``partners``
    items the change makes visible or invisible (see ``registry.sharing.restamp``).
    """

    __tablename__ = "partnerships"

    publisher_id: uuid.UUID = Field(foreign_key="publishers.id", index=True)
    peer_node_id: str = Field(max_length=2048, index=True)
    partner_code: str = Field(max_length=64)
    partner_name: str | None = Field(default=None, max_length=200)
    direction: Direction = Field(sa_type=enum_column(Direction))
    reference: str | None = Field(default=None, max_length=500)
    valid_until: date | None = Field(default=None)
    status: PartnershipStatus = Field(sa_type=enum_column(PartnershipStatus), index=True)
    decided_at: datetime | None = timestamp_field(default=None)


class AdoptionStatus(enum.StrEnum):
    evaluating = "evaluating"
    piloting = "piloting"
    production = "production"
    retired = "retired"


class Adoption(Mirrored, table=True):
    """A publisher uses an app.

    Made by a local publisher (``publisher_id`` set), received from a peer whose
    publisher adopted one of this node's apps (``adopter_node`` set, ``origin`` NULL:
    this node is the authority on who uses its apps), or mirrored from a peer
    (``origin`` set). ``app_id`` is the app's global UUID: a local or mirrored row.
    """

    __tablename__ = "adoptions"
    __table_args__ = (feed_index("adoptions"),)

    app_id: uuid.UUID = Field(index=True)
    publisher_id: uuid.UUID | None = Field(default=None, foreign_key="publishers.id", index=True)
    adopter_node: str | None = Field(default=None, max_length=2048)
    adopter_code: str = Field(max_length=64)
    adopter_name: str = Field(max_length=200)
    version: str | None = Field(default=None, max_length=64)
    status: AdoptionStatus = Field(sa_type=enum_column(AdoptionStatus))
    deployment_url: str | None = Field(default=None, max_length=2048)
    started_on: date | None = Field(default=None)
    ended_on: date | None = Field(default=None)
    delivered_at: datetime | None = timestamp_field(default=None)


EVERYONE = "*"


class Exposure(SQLModel, table=True):
    """A reader that could see one of this node's fed items at some point: ``*`` for
    everyone (the item, and its app or dataset, was public and live), else a peer
    node's id (a ``partners`` item while its owner was partnered with that node).

    Only grows. The change feed sends a reader a tombstone only for an item exposed
    to it, so a withdrawn item is retracted from every mirror that may hold it while
    a reader that never could see an item learns nothing of it — not its id, its
    parent, nor that it changed. Recorded by ``registry.sharing.restamp`` whenever an
    item, its parent or its owner's partnerships change.
    """

    __tablename__ = "exposures"

    # The id of an app, dataset, release, distribution or adoption (UUIDs are unique
    # across the tables).
    item_id: uuid.UUID = Field(primary_key=True)
    reader: str = Field(primary_key=True, max_length=2048)

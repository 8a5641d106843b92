"""Tables of CKAN harvesting: the portals a publisher attaches, which dataset each CKAN
package became, and a report of every run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from registry.db import JSONDoc, timestamp_field, utcnow, uuid7


class HarvestSource(SQLModel, table=True):
    """A CKAN portal whose datasets a publisher keeps in Lumbung."""

    __tablename__ = "harvest_sources"
    __table_args__ = (sa.UniqueConstraint("publisher_id", "ckan_url", "organization"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    publisher_id: uuid.UUID = Field(foreign_key="publishers.id", index=True)
    ckan_url: str = Field(max_length=2048)
    organization: str | None = Field(default=None, max_length=100)
    # CKAN has no language of its own; titles and descriptions are taken as this one.
    language: str = Field(default="id", max_length=35)
    interval: int = Field(default=3600, description="Seconds between scheduled runs.")
    enabled: bool = Field(default=True)
    created_at: datetime = timestamp_field(default_factory=utcnow)
    # The newest metadata_modified seen by the last good run: the next run asks only
    # for packages changed since (CKAN's own clock, so no skew with ours).
    high_water: str | None = Field(default=None, max_length=40)
    last_run_at: datetime | None = timestamp_field(default=None)
    last_success_at: datetime | None = timestamp_field(default=None)
    last_full_at: datetime | None = timestamp_field(default=None)
    last_error: str | None = Field(default=None, max_length=2000)
    lease_holder: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = timestamp_field(default=None)


class HarvestRecord(SQLModel, table=True):
    """Which dataset a CKAN package became, and which distribution each resource."""

    __tablename__ = "harvest_records"
    __table_args__ = (sa.UniqueConstraint("source_id", "ckan_id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    source_id: uuid.UUID = Field(foreign_key="harvest_sources.id", index=True)
    ckan_id: str = Field(max_length=100)
    dataset_id: uuid.UUID = Field(foreign_key="datasets.id", index=True)
    metadata_modified: str | None = Field(default=None, max_length=40)
    # {CKAN resource id: distribution id}: re-harvests update the same distributions.
    resources: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)


class HarvestRun(SQLModel, table=True):
    """The report of one run: what was created, updated, deleted, and each error with
    the record that caused it."""

    __tablename__ = "harvest_runs"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    source_id: uuid.UUID = Field(foreign_key="harvest_sources.id", index=True)
    started_at: datetime = timestamp_field(default_factory=utcnow)
    finished_at: datetime | None = timestamp_field(default=None)
    full: bool = False
    status: str = Field(default="running", max_length=16)
    # Packages seen on the portal, and what became of them.
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDoc)
    message: str | None = Field(default=None, max_length=2000)

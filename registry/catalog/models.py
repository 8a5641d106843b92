"""Tables of the catalog: publishers, apps and their releases, datasets and their
distributions. Field names follow publiccode.yml (apps) and DCAT-AP 3 (datasets) in
snake_case, so the standards' documentation explains them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from registry.db import JSONDoc, timestamp_field
from registry.tables import NULLABLE_JSON, Mirrored, enum_column, feed_index, list_indexes


class Visibility(enum.StrEnum):
    public = "public"
    partners = "partners"
    private = "private"


class PublisherKind(enum.StrEnum):
    city = "city"
    regency = "regency"
    province = "province"
    ministry = "ministry"
    agency = "agency"
    other = "other"


def json_field(**kwargs: Any) -> Any:
    return Field(sa_type=JSONDoc, **kwargs)


def live_unique(table: str, *columns: str) -> sa.Index:
    """Unique among local rows that are not soft-deleted, so a deleted slug can be
    reused. Mirrors are left out: their origin keeps them unique, and a compacted
    feed may deliver a swap of two slugs in an order that passes through a clash."""
    return sa.Index(
        f"uq_{table}_{'_'.join(columns)}_live",
        *columns,
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL AND origin IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL AND origin IS NULL"),
    )


class Publisher(Mirrored, table=True):
    __tablename__ = "publishers"
    __table_args__ = (live_unique("publishers", "code"), feed_index("publishers"))

    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    kind: PublisherKind = Field(sa_type=enum_column(PublisherKind))
    region_code: str | None = Field(default=None, max_length=13)
    website: str | None = Field(default=None, max_length=2048)
    email: str | None = Field(default=None, max_length=320)
    demo: bool = Field(default=False)


class App(Mirrored, table=True):
    __tablename__ = "apps"
    __table_args__ = (
        live_unique("apps", "publisher_id", "slug"),
        feed_index("apps"),
        *list_indexes(
            "apps", "publisher_id", "origin", "development_status", "license", "spbe_class"
        ),
    )

    publisher_id: uuid.UUID = Field(foreign_key="publishers.id")
    slug: str = Field(max_length=100)
    name: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=2048)
    landing_url: str | None = Field(default=None, max_length=2048)
    logo: str | None = Field(default=None, max_length=2048)
    description: dict[str, Any] = json_field(default_factory=dict)
    categories: list[str] = json_field(default_factory=list)
    software_type: str | None = Field(default=None, max_length=32)
    development_status: str | None = Field(default=None, max_length=32)
    license: str | None = Field(default=None, max_length=500)
    platforms: list[str] = json_field(default_factory=list)
    maintenance: dict[str, Any] | None = json_field(default=None)
    localisation: dict[str, Any] | None = json_field(default=None)
    spbe_class: str | None = Field(default=None, max_length=16)
    # Codes of the national SPBE reference architecture for applications (RAA).
    raa_codes: list[str] = json_field(default_factory=list)
    tags: list[str] = json_field(default_factory=list)
    # No index of its own: three values tell rows apart too little to help, and
    # SQLite, which has no statistics by default, would take it to serve a list by
    # reading every public row and sorting them, instead of walking the primary key.
    visibility: Visibility = Field(sa_type=enum_column(Visibility))
    demo: bool = Field(default=False)
    # The publiccode.yml the app was imported from, normalised to the current spec,
    # with every key the catalog has no column for (round trip on export).
    publiccode: dict[str, Any] | None = Field(default=None, sa_type=NULLABLE_JSON)


class Release(Mirrored, table=True):
    __tablename__ = "releases"
    __table_args__ = (live_unique("releases", "app_id", "version"), feed_index("releases"))

    app_id: uuid.UUID = Field(foreign_key="apps.id", index=True)
    version: str = Field(max_length=64)
    released_at: datetime | None = timestamp_field(default=None)
    notes: str | None = Field(default=None)
    artifacts: list[dict[str, Any]] = json_field(default_factory=list)


class Dataset(Mirrored, table=True):
    __tablename__ = "datasets"
    __table_args__ = (
        live_unique("datasets", "publisher_id", "slug"),
        feed_index("datasets"),
        *list_indexes("datasets", "publisher_id", "origin", "license"),
    )

    publisher_id: uuid.UUID = Field(foreign_key="publishers.id")
    slug: str = Field(max_length=100)
    title: dict[str, str] = json_field(default_factory=dict)
    description: dict[str, str] = json_field(default_factory=dict)
    keywords: list[str] = json_field(default_factory=list)
    themes: list[str] = json_field(default_factory=list)
    license: str | None = Field(default=None, max_length=500)
    access_rights: str | None = Field(default=None, max_length=32)
    contact: dict[str, Any] | None = json_field(default=None)
    temporal: dict[str, Any] | None = json_field(default=None)
    spatial: dict[str, Any] | None = json_field(default=None)
    update_frequency: str | None = Field(default=None, max_length=32)
    landing_page: str | None = Field(default=None, max_length=2048)
    # No index of its own: three values tell rows apart too little to help, and
    # SQLite, which has no statistics by default, would take it to serve a list by
    # reading every public row and sorting them, instead of walking the primary key.
    visibility: Visibility = Field(sa_type=enum_column(Visibility))
    demo: bool = Field(default=False)


class Distribution(Mirrored, table=True):
    __tablename__ = "distributions"
    __table_args__ = (feed_index("distributions"),)

    dataset_id: uuid.UUID = Field(foreign_key="datasets.id", index=True)
    title: str | None = Field(default=None, max_length=300)
    access_url: str = Field(max_length=2048)
    download_url: str | None = Field(default=None, max_length=2048)
    media_type: str | None = Field(default=None, max_length=255)
    format: str | None = Field(default=None, max_length=64, index=True)
    byte_size: int | None = Field(default=None, sa_type=sa.BigInteger)
    checksum: str | None = Field(default=None, max_length=200)

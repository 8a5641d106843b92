"""The wire format of the change feed, as a puller checks it.

Every field is checked with the same validators as the catalog's request schemas
(http(s) URLs only, SPDX licences, slugs, sizes), so a peer cannot put into a mirror
anything a local client could not have written. Unknown fields are ignored, so a
newer peer may add some; unknown kinds and operations are refused.
"""

from __future__ import annotations

import uuid
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from registry.catalog import fields as cf
from registry.catalog import schemas as cs
from registry.catalog.models import PublisherKind
from registry.sharing.models import AdoptionStatus

MAX_ENTRIES = 1000


@lru_cache(maxsize=4096)
def _spdx_cached(value: str) -> str:
    # A catalog repeats a handful of licences; checking each once keeps big syncs fast.
    return cf.check_spdx(value)


Spdx = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_spdx_cached)]
FedVisibility = Literal["public", "partners"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")
    created_at: AwareDatetime
    updated_at: AwareDatetime


class PublisherData(_Data):
    code: cf.PublisherCode
    name: cf.ShortText
    kind: PublisherKind = PublisherKind.other
    region_code: cf.RegionCode | None = None
    website: cf.HttpUrl | None = None
    email: cf.Email | None = None
    demo: bool = False


class AppData(_Data):
    publisher_id: uuid.UUID
    slug: cf.Slug
    name: cf.ShortText
    url: cf.HttpUrl | None = None
    landing_url: cf.HttpUrl | None = None
    logo: cf.HttpUrl | None = None
    description: cs.Descriptions = {}
    categories: cs.Terms = []
    software_type: cs.SoftwareType | None = None
    development_status: cs.DevelopmentStatus | None = None
    license: Spdx | None = None
    platforms: cs.Terms = []
    maintenance: cs.Maintenance | None = None
    localisation: cs.Localisation | None = None
    spbe_class: cs.SpbeClass | None = None
    raa_codes: cs.RaaCodes = []
    tags: cs.Terms = []
    # The normalised publiccode.yml, so a mirror exports what its origin does.
    publiccode: dict[str, Any] | None = None
    visibility: FedVisibility
    demo: bool = False


class ReleaseData(_Data):
    app_id: uuid.UUID
    version: cs.Version
    released_at: AwareDatetime | None = None
    notes: Annotated[str, StringConstraints(max_length=20000)] | None = None
    artifacts: Annotated[list[cs.Artifact], Field(max_length=100)] = []


class DatasetData(_Data):
    publisher_id: uuid.UUID
    slug: cf.Slug
    title: Annotated[dict[cf.Language, cs.Title], Field(min_length=1, max_length=50)]
    description: Annotated[dict[cf.Language, cs.LongText], Field(max_length=50)] = {}
    keywords: Annotated[list[cs.Keyword], Field(max_length=100)] = []
    themes: Annotated[list[cs.Theme], Field(max_length=13)] = []
    license: Spdx | None = None
    access_rights: cs.AccessRights | None = None
    contact: cs.DatasetContact | None = None
    temporal: cs.Temporal | None = None
    spatial: cs.Spatial | None = None
    update_frequency: cs.Frequency | None = None
    landing_page: cf.HttpUrl | None = None
    visibility: FedVisibility
    demo: bool = False


class DistributionData(_Data):
    dataset_id: uuid.UUID
    title: cs.Title | None = None
    access_url: cf.HttpUrl
    download_url: cf.HttpUrl | None = None
    media_type: cs.MediaType | None = None
    format: cs.Format | None = None
    byte_size: Annotated[int, Field(ge=0, le=2**62)] | None = None
    checksum: cs.Checksum | None = None


class AdoptionData(_Data):
    app_id: uuid.UUID
    adopter_node: cf.HttpUrl | None = None
    adopter_code: cf.PublisherCode
    adopter_name: cf.ShortText
    version: cs.Version | None = None
    status: AdoptionStatus
    deployment_url: cf.HttpUrl | None = None
    started_on: date | None = None
    ended_on: date | None = None


DATA_MODELS: dict[str, type[_Data]] = {
    "publisher": PublisherData,
    "app": AppData,
    "dataset": DatasetData,
    "release": ReleaseData,
    "distribution": DistributionData,
    "adoption": AdoptionData,
}

Kind = Literal["publisher", "app", "dataset", "release", "distribution", "adoption"]


class Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    kind: Kind
    op: Literal["upsert", "delete"]
    id: uuid.UUID
    global_id: Annotated[str, StringConstraints(max_length=2048)]
    origin: Annotated[str, StringConstraints(max_length=2048)]
    seq: Annotated[int, Field(ge=0)] = 0
    data: dict[str, object] | None = None
    audience: Annotated[list[cf.PublisherCode], Field(max_length=1000)] | None = None


class FeedPage(BaseModel):
    """A page as the feed serves it (the OpenAPI document's shape)."""

    model_config = ConfigDict(extra="ignore")
    origin: Annotated[str, StringConstraints(max_length=2048)]
    entries: Annotated[list[Entry], Field(max_length=MAX_ENTRIES)]
    next_cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    has_more: bool
    remaining: Annotated[int, Field(ge=0)] = 0


# --- what a puller checks ------------------------------------------------------------
#
# The same page, with each entry's ``data`` typed by its kind, so that one call
# validates a whole page straight from the response bytes: the JSON is parsed and
# every field checked in a single pass, with no intermediate dictionaries.


class _CheckedEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    op: Literal["upsert", "delete"]
    id: uuid.UUID
    global_id: Annotated[str, StringConstraints(max_length=2048)]
    origin: Annotated[str, StringConstraints(max_length=2048)]
    seq: Annotated[int, Field(ge=0)] = 0
    audience: Annotated[list[cf.PublisherCode], Field(max_length=1000)] | None = None


class PublisherEntry(_CheckedEntry):
    kind: Literal["publisher"]
    data: PublisherData | None = None


class AppEntry(_CheckedEntry):
    kind: Literal["app"]
    data: AppData | None = None


class DatasetEntry(_CheckedEntry):
    kind: Literal["dataset"]
    data: DatasetData | None = None


class ReleaseEntry(_CheckedEntry):
    kind: Literal["release"]
    data: ReleaseData | None = None


class DistributionEntry(_CheckedEntry):
    kind: Literal["distribution"]
    data: DistributionData | None = None


class AdoptionEntry(_CheckedEntry):
    kind: Literal["adoption"]
    data: AdoptionData | None = None


CheckedEntry = Annotated[
    PublisherEntry | AppEntry | DatasetEntry | ReleaseEntry | DistributionEntry | AdoptionEntry,
    Field(discriminator="kind"),
]


class CheckedPage(BaseModel):
    """A feed page whose entries have passed the catalog's validators."""

    model_config = ConfigDict(extra="ignore")
    origin: Annotated[str, StringConstraints(max_length=2048)]
    entries: Annotated[list[CheckedEntry], Field(max_length=MAX_ENTRIES)]
    next_cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    has_more: bool
    remaining: Annotated[int, Field(ge=0)] = 0

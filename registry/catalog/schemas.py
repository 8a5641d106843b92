"""Request and response shapes of the catalog API.

Requests forbid unknown fields: a misspelt key is an error, not silently dropped.
Updates have every field optional and are applied with ``exclude_unset``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from registry.catalog.fields import (
    ByteCount,
    Email,
    HttpUrl,
    Language,
    PublisherCode,
    RegionCode,
    ShortText,
    Slug,
    Spdx,
    Term,
)
from registry.catalog.models import PublisherKind, Visibility


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Output):
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class TrackedPublic(Output):
    """What every entity read from the API carries: the public face of ``registry.db.Tracked``."""

    id: uuid.UUID
    global_id: str = Field(description="This entity's URL on its origin node: its global id.")
    origin: str = Field(description="The node id (base URL) where this entity is maintained.")
    created_at: datetime
    updated_at: datetime
    etag: str = Field(description="Send as If-Match to update or delete this exact version.")


class OwnedPublic(TrackedPublic):
    """What an app and a dataset both say of their owner."""

    publisher: str = Field(description="The publisher's code on its own node.")
    publisher_ref: str = Field(
        description="The publisher's identity: its code for a publisher of this node, "
        "`code@node-id` for a mirrored one (two nodes may use the same code). Accepted by "
        "every `publisher` filter; the key of publisher facets."
    )
    publisher_id: uuid.UUID
    slug: str


# --- list filters ------------------------------------------------------------------
# The query parameters of the app and dataset lists, read by FastAPI field by field.
# Unlike request bodies they ignore unknown names, as every query string does.

PublisherFilter = Annotated[
    str | None, Field(description="Publisher id, code, or `code@node-id` (`publisher_ref`)")
]
LicenseFilter = Annotated[str | None, Field(max_length=500)]
TextFilter = Annotated[str | None, Field(max_length=200, description="Text to look for")]
OriginFilter = Annotated[
    str | None,
    Field(
        max_length=2048,
        description="`local` (this node's own), `peers` (every mirror) or a peer's node id",
    ),
]


class AppFilters(BaseModel):
    model_config = ConfigDict(frozen=True)

    publisher: PublisherFilter = None
    category: Annotated[str | None, Field(max_length=64)] = None
    development_status: Annotated[str | None, Field(max_length=32)] = None
    license: LicenseFilter = None
    visibility: Visibility | None = None
    tag: Annotated[str | None, Field(max_length=64)] = None
    platform: Annotated[str | None, Field(max_length=64)] = None
    spbe_class: Annotated[str | None, Field(max_length=16)] = None
    raa_code: Annotated[
        str | None, Field(max_length=32, description="A code of the SPBE reference architecture")
    ] = None
    q: TextFilter = None
    origin: OriginFilter = None


class DatasetFilters(BaseModel):
    model_config = ConfigDict(frozen=True)

    publisher: PublisherFilter = None
    theme: Annotated[str | None, Field(max_length=8, description="EU data theme, e.g. HEAL")] = None
    keyword: Annotated[str | None, Field(max_length=100)] = None
    license: LicenseFilter = None
    visibility: Visibility | None = None
    format: Annotated[str | None, Field(max_length=64, description="Distribution format")] = None
    q: TextFilter = None
    origin: OriginFilter = None


# --- publishers --------------------------------------------------------------------


class PublisherCreate(Input):
    code: PublisherCode
    name: ShortText
    kind: PublisherKind = PublisherKind.city
    region_code: RegionCode | None = None
    website: HttpUrl | None = None
    email: Email | None = None


class PublisherUpdate(Input):
    name: ShortText | None = None
    kind: PublisherKind | None = None
    region_code: RegionCode | None = None
    website: HttpUrl | None = None
    email: Email | None = None


class PublisherPublic(TrackedPublic):
    code: str
    name: str
    kind: PublisherKind
    region_code: str | None
    website: str | None
    email: str | None
    demo: bool


class PublishersPublic(Page):
    items: list[PublisherPublic]


# --- apps --------------------------------------------------------------------------

SoftwareType = Literal[
    "standalone/mobile",
    "standalone/iot",
    "standalone/desktop",
    "standalone/web",
    "standalone/backend",
    "standalone/other",
    "addon",
    "library",
    "configurationFiles",
]
DevelopmentStatus = Literal["concept", "development", "beta", "stable", "obsolete"]
SpbeClass = Literal["umum", "khusus"]
# publiccode.yml has had no length limit on features since 0.3; real files run past 100.
Feature = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
RaaCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
RaaCodes = Annotated[list[RaaCode], Field(max_length=50)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()./-]{3,32}$")]


class AppDescription(Input):
    short_description: Annotated[str, StringConstraints(min_length=1, max_length=150)]
    long_description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    features: Annotated[list[Feature], Field(max_length=50)] = []


class Contact(Input):
    name: ShortText
    email: Email | None = None
    phone: Phone | None = None


class Maintenance(Input):
    type: Literal["internal", "contract", "community", "none"]
    contacts: Annotated[list[Contact], Field(max_length=20)] = []


class Localisation(Input):
    localisation_ready: bool
    available_languages: Annotated[list[Language], Field(max_length=100)] = []


Descriptions = Annotated[dict[Language, AppDescription], Field(max_length=50)]
Terms = Annotated[list[Term], Field(max_length=50)]


class AppFields(Input):
    name: ShortText | None = None
    url: HttpUrl | None = Field(default=None, description="The source code repository.")
    landing_url: HttpUrl | None = None
    logo: HttpUrl | None = None
    description: Descriptions | None = Field(
        default=None,
        description="Per language (BCP 47 tag, e.g. `id`, `en`): short and long "
        "description and features.",
    )
    categories: Terms | None = None
    software_type: SoftwareType | None = None
    development_status: DevelopmentStatus | None = None
    license: Spdx | None = Field(default=None, description="An SPDX license expression.")
    platforms: Terms | None = None
    maintenance: Maintenance | None = None
    localisation: Localisation | None = None
    spbe_class: SpbeClass | None = Field(
        default=None, description="SPBE classification: aplikasi umum or aplikasi khusus."
    )
    raa_codes: RaaCodes | None = Field(
        default=None, description="Codes of the SPBE reference architecture for applications."
    )
    tags: Terms | None = None
    visibility: Visibility | None = None


class AppCreate(AppFields):
    publisher: PublisherCode | None = Field(
        default=None, description="Owner's code; defaults to the caller's publisher."
    )
    slug: Slug
    name: ShortText
    visibility: Visibility = Visibility.private


class AppUpdate(AppFields):
    slug: Slug | None = None


class AppPublic(OwnedPublic):
    name: str
    url: str | None
    landing_url: str | None
    logo: str | None
    description: dict[str, AppDescription]
    categories: list[str]
    software_type: str | None
    development_status: str | None
    license: str | None
    platforms: list[str]
    maintenance: Maintenance | None
    localisation: Localisation | None
    spbe_class: str | None
    raa_codes: list[str] = []
    tags: list[str]
    visibility: Visibility
    demo: bool


class AppsPublic(Page):
    items: list[AppPublic]


# --- releases ----------------------------------------------------------------------

FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._+-][A-Za-z0-9._+ -]{0,199}$")]
MediaType = Annotated[
    str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+(?:\s*;.*)?$", max_length=255)
]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Artifact(Input):
    name: FileName
    url: HttpUrl
    sha256: Sha256 | None = None
    size: ByteCount | None = None
    media_type: MediaType | None = None


def _date_as_midnight(value: object) -> object:
    """A plain date (``2026-11-01``, as publiccode.yml's ``releaseDate`` is) means the
    start of that day in UTC; a timestamp passes through."""
    if isinstance(value, str) and len(value) == 10:
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


ReleasedAt = Annotated[
    AwareDatetime,
    BeforeValidator(_date_as_midnight),
    Field(description="A timestamp with its zone, or a plain date (midnight UTC)."),
]


class ReleaseFields(Input):
    released_at: ReleasedAt | None = None
    notes: Annotated[str, StringConstraints(max_length=20000)] | None = None
    artifacts: Annotated[list[Artifact], Field(max_length=100)] | None = None

    @model_validator(mode="after")
    def _unique_artifact_names(self) -> ReleaseFields:
        names = [a.name for a in self.artifacts or []]
        if len(names) != len(set(names)):
            raise ValueError("artifact names must be unique within a release")
        return self


Version = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")]


class ReleaseCreate(ReleaseFields):
    version: Version


class ReleaseUpdate(ReleaseFields):
    version: Version | None = None


class ReleasePublic(TrackedPublic):
    app_id: uuid.UUID
    version: str
    released_at: datetime | None
    notes: str | None
    artifacts: list[Artifact]


class ReleasesPublic(Page):
    items: list[ReleasePublic]


# --- datasets ----------------------------------------------------------------------

Theme = Literal[
    "AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI", "SOCI",
    "TECH", "TRAN",
]  # fmt: skip
AccessRights = Literal["PUBLIC", "RESTRICTED", "NON_PUBLIC"]
# The EU "frequency" authority table, the codes DCAT-AP uses.
Frequency = Literal[
    "CONT", "DAILY", "WEEKLY", "BIWEEKLY", "MONTHLY", "BIMONTHLY", "QUARTERLY",
    "BIENNIAL", "ANNUAL", "ANNUAL_2", "ANNUAL_3", "TRIENNIAL", "IRREG", "NEVER", "UNKNOWN",
]  # fmt: skip
Title = Annotated[str, StringConstraints(min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(max_length=20000)]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class DatasetContact(Input):
    name: ShortText
    email: Email | None = None
    url: HttpUrl | None = None


class Temporal(Input):
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Temporal:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class Spatial(Input):
    region_code: RegionCode


class DatasetFields(Input):
    title: Annotated[dict[Language, Title], Field(min_length=1, max_length=50)] | None = None
    description: Annotated[dict[Language, LongText], Field(max_length=50)] | None = None
    keywords: Annotated[list[Keyword], Field(max_length=100)] | None = None
    themes: Annotated[list[Theme], Field(max_length=13)] | None = None
    license: Spdx | None = None
    access_rights: AccessRights | None = None
    contact: DatasetContact | None = None
    temporal: Temporal | None = None
    spatial: Spatial | None = None
    update_frequency: Frequency | None = None
    landing_page: HttpUrl | None = None
    visibility: Visibility | None = None


class DatasetCreate(DatasetFields):
    publisher: PublisherCode | None = Field(
        default=None, description="Owner's code; defaults to the caller's publisher."
    )
    slug: Slug
    title: Annotated[dict[Language, Title], Field(min_length=1, max_length=50)]
    visibility: Visibility = Visibility.private
    distributions: Annotated[list[DistributionCreate], Field(max_length=100)] | None = Field(
        default=None,
        description="Distributions created with the dataset, in the same transaction "
        "(as CKAN's package_create takes its resources): all are created or none.",
    )


class DatasetUpdate(DatasetFields):
    slug: Slug | None = None


class DatasetPublic(OwnedPublic):
    title: dict[str, str]
    description: dict[str, str]
    keywords: list[str]
    themes: list[str]
    license: str | None
    access_rights: str | None
    contact: DatasetContact | None
    temporal: Temporal | None
    spatial: Spatial | None
    update_frequency: str | None
    landing_page: str | None
    visibility: Visibility
    demo: bool


class DatasetsPublic(Page):
    items: list[DatasetPublic]


# --- distributions -----------------------------------------------------------------

Checksum = Annotated[
    str,
    StringConstraints(pattern=r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}|sha1:[0-9a-f]{40})$"),
    Field(description="`algorithm:hex`, e.g. `sha256:…`"),
]
Format = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._+-]{1,64}$")]


class DistributionFields(Input):
    title: Title | None = None
    download_url: HttpUrl | None = None
    media_type: MediaType | None = None
    format: Format | None = Field(default=None, description="e.g. CSV, JSON, XLSX, API")
    byte_size: ByteCount | None = None
    checksum: Checksum | None = None


class DistributionCreate(DistributionFields):
    access_url: HttpUrl


class DistributionUpdate(DistributionFields):
    access_url: HttpUrl | None = None


class DistributionPublic(TrackedPublic):
    dataset_id: uuid.UUID
    title: str | None
    access_url: str
    download_url: str | None
    media_type: str | None
    format: str | None
    byte_size: int | None
    checksum: str | None


class DistributionsPublic(Page):
    items: list[DistributionPublic]


DatasetCreate.model_rebuild()

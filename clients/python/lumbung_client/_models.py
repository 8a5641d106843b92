"""Typed shapes of what the node returns and what the client sends.

Response models accept fields they do not know (``extra="allow"``), so a node that
adds a field does not break an older client; the extra values are still reachable via
``model.model_extra``. Request models refuse unknown fields, as the node does, so a
misspelt key fails before anything is sent.

Enumerated values (``visibility``, ``development_status`` …) are plain strings here: a
node may add a value without breaking clients. The accepted values are documented on
each field.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Adoption",
    "AdoptionCreate",
    "AdoptionUpdate",
    "App",
    "AppCreate",
    "AppDescription",
    "AppUpdate",
    "Artifact",
    "Change",
    "ChangesPage",
    "Contact",
    "Dataset",
    "DatasetContact",
    "DatasetCreate",
    "DatasetUpdate",
    "Distribution",
    "DistributionCreate",
    "DistributionUpdate",
    "ImportIssue",
    "ImportReport",
    "Localisation",
    "Maintenance",
    "Page",
    "Partnership",
    "PartnershipCreate",
    "Peer",
    "PeerCreate",
    "Publisher",
    "PublisherCreate",
    "PublisherUpdate",
    "Release",
    "ReleaseCreate",
    "ReleaseUpdate",
    "Resource",
    "SearchHit",
    "SearchResults",
    "Spatial",
    "Temporal",
]


class _Response(BaseModel):
    """Base of every response shape: unknown fields are kept, not refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Request(BaseModel):
    """Base of every request shape: unknown fields are refused, as the node does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Resource(_Response):
    """Fields every catalog object carries.

    ``etag`` identifies this exact version: pass the object itself to ``update`` or
    ``delete`` and the client sends it as ``If-Match``, so a concurrent change is
    refused (:class:`~lumbung_client.PreconditionFailed`) rather than overwritten.
    """

    id: uuid.UUID
    global_id: str | None = Field(
        default=None, description="The object's URL on its origin node: its global id."
    )
    origin: str | None = Field(default=None, description="Base URL of the origin node.")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    etag: str | None = Field(default=None, description="Version tag, sent as If-Match.")


T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` as ``cursor`` to get the next page."""

    model_config = ConfigDict(extra="allow")

    items: list[T]
    next_cursor: str | None = None

    @property
    def has_next(self) -> bool:
        """Whether another page follows."""
        return self.next_cursor is not None


# --- publishers --------------------------------------------------------------------


class Publisher(Resource):
    """An organisation hosted on a node: city, regency, province, ministry or agency."""

    code: str
    name: str
    kind: str = Field(description="city, regency, province, ministry, agency or other")
    region_code: str | None = Field(default=None, description="Kemendagri code, e.g. 35.10")
    website: str | None = None
    email: str | None = None
    demo: bool = False


class _PublisherFields(_Request):
    region_code: str | None = None
    website: str | None = None
    email: str | None = None


class PublisherCreate(_PublisherFields):
    """Fields to register a publisher (node admin only)."""

    code: str = Field(description="Stable identifier: lowercase letters, digits, hyphens.")
    name: str
    kind: str = "city"


class PublisherUpdate(_PublisherFields):
    """Fields of a publisher that can change; only the ones you set are sent."""

    name: str | None = None
    kind: str | None = None


# --- apps --------------------------------------------------------------------------


class AppDescription(BaseModel):
    """An app's description in one language (publiccode.yml ``description.<lang>``)."""

    model_config = ConfigDict(extra="allow")

    short_description: str = Field(description="At most 150 characters.")
    long_description: str | None = None
    features: list[str] = Field(default_factory=list)


class Contact(BaseModel):
    """A maintainer's contact."""

    model_config = ConfigDict(extra="allow")

    name: str
    email: str | None = None
    phone: str | None = None


class Maintenance(BaseModel):
    """Who maintains an app: ``type`` is internal, contract, community or none."""

    model_config = ConfigDict(extra="allow")

    type: str
    contacts: list[Contact] = Field(default_factory=list)


class Localisation(BaseModel):
    """Whether an app can be translated, and the languages it ships in."""

    model_config = ConfigDict(extra="allow")

    localisation_ready: bool
    available_languages: list[str] = Field(default_factory=list)


class _Owned(Resource):
    """Fields of what a publisher owns and names by a slug: apps and datasets."""

    publisher: str = Field(description="The owner's publisher code.")
    publisher_id: uuid.UUID | None = None
    publisher_ref: str | None = Field(
        default=None,
        description="The publisher's identity: its code on this node, code@node-id for a "
        "mirrored one. Accepted by every publisher filter.",
    )
    slug: str

    @property
    def ref(self) -> str:
        """``publisher/slug``, the human-readable way to name this app or dataset."""
        return f"{self.publisher}/{self.slug}"


class App(_Owned):
    """An application a publisher owns, described like publiccode.yml."""

    name: str
    url: str | None = Field(default=None, description="Source code repository.")
    landing_url: str | None = None
    logo: str | None = None
    description: dict[str, AppDescription] = Field(default_factory=dict)
    categories: list[str] = Field(default_factory=list)
    software_type: str | None = None
    development_status: str | None = Field(
        default=None, description="concept, development, beta, stable or obsolete"
    )
    license: str | None = Field(default=None, description="SPDX license expression.")
    platforms: list[str] = Field(default_factory=list)
    maintenance: Maintenance | None = None
    localisation: Localisation | None = None
    spbe_class: str | None = Field(default=None, description="umum or khusus")
    raa_codes: list[str] = Field(
        default_factory=list, description="Codes of the SPBE reference architecture (RAA)."
    )
    tags: list[str] = Field(default_factory=list)
    visibility: str = Field(default="private", description="public, partners or private")
    demo: bool = False


class ImportIssue(_Response):
    """One problem found in an imported publiccode.yml."""

    path: str = Field(description="Key path in the file, e.g. ``description.en.features``.")
    rule: str
    level: str = Field(description="``error`` (the official parser refuses it) or ``warning``.")
    message: str
    value: Any = None


class ImportReport(_Response):
    """The outcome of importing a publiccode.yml: the app, and every problem found."""

    app: App
    created: bool = Field(description="True for a new app, false when one was updated.")
    issues: list[ImportIssue] = Field(default_factory=list)


class _AppFields(_Request):
    url: str | None = None
    landing_url: str | None = None
    logo: str | None = None
    description: dict[str, AppDescription] | None = None
    categories: list[str] | None = None
    software_type: str | None = None
    development_status: str | None = None
    license: str | None = None
    platforms: list[str] | None = None
    maintenance: Maintenance | None = None
    localisation: Localisation | None = None
    spbe_class: str | None = None
    tags: list[str] | None = None
    visibility: str | None = None


class AppCreate(_AppFields):
    """Fields to register an app. ``publisher`` defaults to the caller's own."""

    publisher: str | None = None
    slug: str
    name: str


class AppUpdate(_AppFields):
    """Fields of an app that can change; only the ones you set are sent."""

    slug: str | None = None
    name: str | None = None


# --- releases ----------------------------------------------------------------------


class Artifact(BaseModel):
    """A file of a release: where to get it and how to check it."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="File name, unique within the release.")
    url: str
    sha256: str | None = None
    size: int | None = None
    media_type: str | None = None


class Release(Resource):
    """A version of an app, with its artifacts."""

    app_id: uuid.UUID
    version: str
    released_at: datetime | None = None
    notes: str | None = None
    artifacts: list[Artifact] = Field(default_factory=list)


class _ReleaseFields(_Request):
    released_at: datetime | None = None
    notes: str | None = None
    artifacts: list[Artifact] | None = None


class ReleaseCreate(_ReleaseFields):
    """Fields to publish a release. Artifacts may also be uploaded afterwards."""

    version: str


class ReleaseUpdate(_ReleaseFields):
    """Fields of a release that can change; only the ones you set are sent."""

    version: str | None = None


# --- datasets ----------------------------------------------------------------------


class DatasetContact(BaseModel):
    """Who answers questions about a dataset."""

    model_config = ConfigDict(extra="allow")

    name: str
    email: str | None = None
    url: str | None = None


class Temporal(BaseModel):
    """The period a dataset covers."""

    model_config = ConfigDict(extra="allow")

    start: date | None = None
    end: date | None = None


class Spatial(BaseModel):
    """The area a dataset covers, as a Kemendagri region code."""

    model_config = ConfigDict(extra="allow")

    region_code: str


class Dataset(_Owned):
    """A dataset a publisher owns, described like DCAT-AP 3."""

    title: dict[str, str] = Field(default_factory=dict, description="Per language tag.")
    description: dict[str, str] = Field(default_factory=dict)
    keywords: list[str] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=list, description="EU data themes, e.g. HEAL")
    license: str | None = None
    access_rights: str | None = Field(default=None, description="PUBLIC, RESTRICTED, NON_PUBLIC")
    contact: DatasetContact | None = None
    temporal: Temporal | None = None
    spatial: Spatial | None = None
    update_frequency: str | None = None
    landing_page: str | None = None
    visibility: str = "private"
    demo: bool = False


class _DatasetFields(_Request):
    description: dict[str, str] | None = None
    keywords: list[str] | None = None
    themes: list[str] | None = None
    license: str | None = None
    access_rights: str | None = None
    contact: DatasetContact | None = None
    temporal: Temporal | None = None
    spatial: Spatial | None = None
    update_frequency: str | None = None
    landing_page: str | None = None
    visibility: str | None = None


class DatasetCreate(_DatasetFields):
    """Fields to register a dataset. ``publisher`` defaults to the caller's own."""

    publisher: str | None = None
    slug: str
    title: dict[str, str]


class DatasetUpdate(_DatasetFields):
    """Fields of a dataset that can change; only the ones you set are sent."""

    slug: str | None = None
    title: dict[str, str] | None = None


class Distribution(Resource):
    """A way to get a dataset: a downloadable file or an API."""

    dataset_id: uuid.UUID
    title: str | None = None
    access_url: str
    download_url: str | None = None
    media_type: str | None = None
    format: str | None = None
    byte_size: int | None = None
    checksum: str | None = Field(default=None, description="algorithm:hex, e.g. sha256:…")


class _DistributionFields(_Request):
    title: str | None = None
    download_url: str | None = None
    media_type: str | None = None
    format: str | None = None
    byte_size: int | None = None
    checksum: str | None = None


class DistributionCreate(_DistributionFields):
    """Fields to add a distribution to a dataset."""

    access_url: str


class DistributionUpdate(_DistributionFields):
    """Fields of a distribution that can change; only the ones you set are sent."""

    access_url: str | None = None


# --- sharing -----------------------------------------------------------------------


class Adoption(Resource):
    """A publisher's record that it uses an app, sent on to the app's origin node."""

    app_id: uuid.UUID
    publisher_id: uuid.UUID | None = Field(
        default=None, description="The adopter, when it is a publisher of this node."
    )
    adopter_node: str | None = Field(default=None, description="The adopter's node id.")
    adopter_code: str | None = None
    adopter_name: str | None = None
    version: str | None = None
    status: str = Field(
        default="evaluating", description="evaluating, piloting, production or retired"
    )
    deployment_url: str | None = None
    started_on: date | None = None
    ended_on: date | None = None
    delivered_at: datetime | None = Field(
        default=None, description="When the app's origin node confirmed receipt."
    )


class _AdoptionFields(_Request):
    version: str | None = None
    status: str | None = None
    deployment_url: str | None = None
    started_on: date | None = None
    ended_on: date | None = None


class AdoptionCreate(_AdoptionFields):
    """Fields to record that your publisher uses an app (local or mirrored)."""

    app_id: uuid.UUID
    publisher: str | None = Field(default=None, description="Defaults to your publisher.")


class AdoptionUpdate(_AdoptionFields):
    """Fields of an adoption that can change, e.g. ``status="production"``."""


class Partnership(_Response):
    """An agreement between a local publisher and a publisher on a peer node."""

    id: uuid.UUID
    publisher: str = Field(description="The local publisher's code.")
    publisher_id: uuid.UUID | None = None
    peer_node_id: str = Field(description="The partner's node id (base URL).")
    partner_code: str
    partner_name: str | None = None
    direction: str | None = Field(default=None, description="outgoing or incoming")
    reference: str | None = Field(default=None, description="e.g. the agreement's number")
    valid_until: date | None = None
    status: str = Field(description="requested, active, rejected, withdrawn, revoked or expired")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    decided_at: datetime | None = None


class PartnershipCreate(_Request):
    """Fields to ask a publisher on a peer node for a partnership."""

    publisher: str = Field(description="Your publisher's code.")
    peer: str = Field(description="The partner's node id (base URL).")
    partner: str = Field(description="The partner's publisher code on that node.")
    reference: str | None = None
    until: date | None = None


class Peer(_Response):
    """Another node this node trusts, and how syncing from it goes."""

    id: uuid.UUID
    node_id: str
    name: str | None = None
    software_version: str | None = None
    api_base: str | None = None
    jwks_uri: str | None = None
    feed_url: str | None = None
    publishers: list[str | None] = Field(default_factory=list)
    key_thumbprints: list[str] = Field(default_factory=list)
    cursor: str | None = None
    items: int | None = None
    remaining: int | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    lag_seconds: float | None = None
    refused_notices: int = 0
    created_at: datetime | None = None


class PeerCreate(_Request):
    """A node to trust, by its base URL; ``key_thumbprints`` (RFC 7638) confirmed with
    its operator make the node refuse a peer publishing other keys."""

    url: str
    key_thumbprints: list[str] | None = None


# --- search and changes --------------------------------------------------------------


class SearchHit(_Response):
    """One search result: an app or a dataset, local or mirrored from a peer."""

    kind: str = Field(description="app or dataset")
    id: uuid.UUID
    slug: str
    title: str
    summary: str | None = Field(default=None, description="Short description (Indonesian first).")
    publisher: str
    origin: str = Field(description="Node id of the node the item comes from.")
    global_id: str
    visibility: str | None = None
    snippet: str | None = Field(
        default=None,
        description="HTML: a passage of the item's text, escaped, with the matched words "
        "in <mark>.",
    )

    @property
    def ref(self) -> str:
        """``publisher/slug``: pass it to ``client.apps.get`` or ``client.datasets.get``."""
        return f"{self.publisher}/{self.slug}"


class SearchResults(Page[SearchHit]):
    """A page of search results, with facet counts over all matches."""

    total: int | None = Field(
        default=None,
        description="Matches over all pages; an estimate when ``total_exact`` is false.",
    )
    total_exact: bool = Field(
        default=True, description="False when ``total`` is estimated from a sample of the matches."
    )
    facets: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Counts over all matches by kind, publisher (code, or code@origin for "
        "a mirrored one), category, theme, format, license, development_status, "
        "spbe_class and origin.",
    )
    facets_exact: bool = Field(
        default=True, description="False when the facet counts are estimated from a sample."
    )
    did_you_mean: str | None = Field(
        default=None,
        description="The corrected query when words matching nothing were replaced; the "
        "results are for it.",
    )


class Change(_Response):
    """One entry of a node's change feed: an entity at its latest state (``upsert``),
    or a ``delete`` tombstone for one the reader may no longer see."""

    kind: str = Field(description="publisher, app, dataset, release, distribution, adoption")
    op: str = Field(description="upsert or delete")
    id: uuid.UUID
    global_id: str
    origin: str
    seq: int = 0
    data: dict[str, Any] | None = Field(default=None, description="The entity; None on deletes.")
    audience: list[str] | None = Field(
        default=None,
        description="For partners-only items: the reader's publishers that may see it.",
    )


class ChangesPage(Page[Change]):
    """A page of the change feed. Keep ``next_cursor`` and pass it as ``after`` next time;
    unlike other lists it is set on the last page too."""

    items: list[Change] = Field(alias="entries")
    origin: str | None = None
    has_more: bool = False
    remaining: int = 0

    @property
    def has_next(self) -> bool:
        """Whether the feed had more changes when this page was read."""
        return self.has_more

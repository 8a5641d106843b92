"""Every HTTP operation the client uses, in one table.

Resources build their requests from these entries, and the contract test checks each
one against the node's ``/openapi.json``: that the path and method exist, that the
response schema has every field the client's model declares, that the request schema
accepts every field the client can send, and that every query filter is a parameter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote

from pydantic import BaseModel

from lumbung_client import _models as m

__all__ = ["ROUTES", "PathParam", "Route"]

#: What may fill a path placeholder: an id, or a code such as a publisher's.
PathParam = uuid.UUID | str


@dataclass(frozen=True)
class Route:
    """One operation: method, path template, and the shapes it exchanges."""

    method: str
    path: str
    response: type[BaseModel] | None = None
    request: type[BaseModel] | None = None
    #: Query parameters the client may send (filters and paging).
    query: tuple[str, ...] = ()
    #: Headers the client may send besides Authorization.
    headers: tuple[str, ...] = ()
    #: The response is a page whose ``items`` (or ``items_key``) are ``response``.
    paged: bool = False
    items_key: str = "items"
    #: The page's own model, when it has fields beyond ``items`` and ``next_cursor``.
    page: type[BaseModel] | None = None
    #: The response is a JSON array of ``response``.
    listed: bool = False
    #: The request body is a file, not JSON.
    raw_body: bool = False

    def format(self, **params: PathParam) -> str:
        """The path with its ``{placeholders}`` filled in, each part URL-escaped."""
        return self.path.format(**{k: quote(str(v), safe="") for k, v in params.items()})


PAGING = ("limit", "cursor")
CREATE = ("Idempotency-Key",)
CHANGE = ("If-Match",)

ROUTES: dict[str, Route] = {
    # publishers
    "publishers.list": Route(
        "GET", "/api/v1/publishers", m.Publisher, query=("q", "kind", *PAGING), paged=True
    ),
    "publishers.create": Route(
        "POST", "/api/v1/publishers", m.Publisher, m.PublisherCreate, headers=CREATE
    ),
    "publishers.get": Route("GET", "/api/v1/publishers/{publisher}", m.Publisher),
    "publishers.update": Route(
        "PATCH", "/api/v1/publishers/{publisher}", m.Publisher, m.PublisherUpdate, headers=CHANGE
    ),
    "publishers.delete": Route("DELETE", "/api/v1/publishers/{publisher}", headers=CHANGE),
    # apps
    "apps.list": Route(
        "GET",
        "/api/v1/apps",
        m.App,
        query=(
            "publisher",
            "category",
            "development_status",
            "license",
            "visibility",
            "tag",
            "platform",
            "spbe_class",
            "q",
            "origin",
            *PAGING,
        ),
        paged=True,
    ),
    "apps.create": Route("POST", "/api/v1/apps", m.App, m.AppCreate, headers=CREATE),
    "apps.get": Route("GET", "/api/v1/apps/{app_id}", m.App),
    "apps.update": Route("PATCH", "/api/v1/apps/{app_id}", m.App, m.AppUpdate, headers=CHANGE),
    "apps.delete": Route("DELETE", "/api/v1/apps/{app_id}", headers=CHANGE),
    # releases
    "releases.list": Route(
        "GET", "/api/v1/apps/{app_id}/releases", m.Release, query=PAGING, paged=True
    ),
    "releases.create": Route(
        "POST", "/api/v1/apps/{app_id}/releases", m.Release, m.ReleaseCreate, headers=CREATE
    ),
    "releases.get": Route("GET", "/api/v1/apps/{app_id}/releases/{release_id}", m.Release),
    "releases.update": Route(
        "PATCH",
        "/api/v1/apps/{app_id}/releases/{release_id}",
        m.Release,
        m.ReleaseUpdate,
        headers=CHANGE,
    ),
    "releases.delete": Route(
        "DELETE", "/api/v1/apps/{app_id}/releases/{release_id}", headers=CHANGE
    ),
    # datasets
    "datasets.list": Route(
        "GET",
        "/api/v1/datasets",
        m.Dataset,
        query=(
            "publisher",
            "theme",
            "keyword",
            "license",
            "visibility",
            "format",
            "q",
            "origin",
            *PAGING,
        ),
        paged=True,
    ),
    "datasets.create": Route(
        "POST", "/api/v1/datasets", m.Dataset, m.DatasetCreate, headers=CREATE
    ),
    "datasets.get": Route("GET", "/api/v1/datasets/{dataset_id}", m.Dataset),
    "datasets.update": Route(
        "PATCH", "/api/v1/datasets/{dataset_id}", m.Dataset, m.DatasetUpdate, headers=CHANGE
    ),
    "datasets.delete": Route("DELETE", "/api/v1/datasets/{dataset_id}", headers=CHANGE),
    # distributions
    "distributions.list": Route(
        "GET",
        "/api/v1/datasets/{dataset_id}/distributions",
        m.Distribution,
        query=PAGING,
        paged=True,
    ),
    "distributions.create": Route(
        "POST",
        "/api/v1/datasets/{dataset_id}/distributions",
        m.Distribution,
        m.DistributionCreate,
        headers=CREATE,
    ),
    "distributions.get": Route(
        "GET", "/api/v1/datasets/{dataset_id}/distributions/{distribution_id}", m.Distribution
    ),
    "distributions.update": Route(
        "PATCH",
        "/api/v1/datasets/{dataset_id}/distributions/{distribution_id}",
        m.Distribution,
        m.DistributionUpdate,
        headers=CHANGE,
    ),
    "distributions.delete": Route(
        "DELETE", "/api/v1/datasets/{dataset_id}/distributions/{distribution_id}", headers=CHANGE
    ),
    "releases.upload": Route(
        "POST",
        "/api/v1/apps/{app_id}/releases/{release_id}/artifacts",
        m.Release,
        query=("name", "sha256"),
        headers=(*CREATE, *CHANGE),
        raw_body=True,
    ),
    # sharing
    "adoptions.list": Route(
        "GET",
        "/api/v1/adoptions",
        m.Adoption,
        query=("app_id", "publisher", "status", *PAGING),
        paged=True,
    ),
    "adoptions.create": Route(
        "POST", "/api/v1/adoptions", m.Adoption, m.AdoptionCreate, headers=CREATE
    ),
    "adoptions.get": Route("GET", "/api/v1/adoptions/{adoption_id}", m.Adoption),
    "adoptions.update": Route(
        "PATCH", "/api/v1/adoptions/{adoption_id}", m.Adoption, m.AdoptionUpdate, headers=CHANGE
    ),
    "adoptions.delete": Route("DELETE", "/api/v1/adoptions/{adoption_id}", headers=CHANGE),
    "partnerships.list": Route(
        "GET", "/api/v1/partnerships", m.Partnership, query=("status", *PAGING), paged=True
    ),
    "partnerships.create": Route(
        "POST", "/api/v1/partnerships", m.Partnership, m.PartnershipCreate
    ),
    "partnerships.get": Route("GET", "/api/v1/partnerships/{partnership_id}", m.Partnership),
    "partnerships.decide": Route(
        "POST", "/api/v1/partnerships/{partnership_id}/{action}", m.Partnership
    ),
    "peers.list": Route("GET", "/api/v1/peers", m.Peer, listed=True),
    "peers.create": Route("POST", "/api/v1/peers", m.Peer, m.PeerCreate),
    "peers.get": Route("GET", "/api/v1/peers/{peer_id}", m.Peer),
    "peers.delete": Route("DELETE", "/api/v1/peers/{peer_id}"),
    "peers.sync": Route("POST", "/api/v1/peers/{peer_id}/sync"),
    # search and federation
    "search": Route("GET", "/api/v1/search", m.SearchHit, query=("q", "kind", *PAGING), paged=True),
    "changes": Route(
        "GET",
        "/federation/v1/changes",
        m.Change,
        query=("after", "limit"),
        paged=True,
        items_key="entries",
        page=m.ChangesPage,
    ),
}

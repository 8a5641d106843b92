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


def crud(
    name: str,
    collection: str,
    item: str,
    model: type[BaseModel],
    create: type[BaseModel],
    update: type[BaseModel],
    query: tuple[str, ...] = (),
) -> dict[str, Route]:
    """The five routes of a resource the client lists, creates, reads, changes and
    deletes: creates carry an ``Idempotency-Key``, changes and deletes an ``If-Match``."""
    one = f"{collection}/{item}"
    return {
        f"{name}.list": Route("GET", collection, model, query=(*query, *PAGING), paged=True),
        f"{name}.create": Route("POST", collection, model, create, headers=CREATE),
        f"{name}.get": Route("GET", one, model),
        f"{name}.update": Route("PATCH", one, model, update, headers=CHANGE),
        f"{name}.delete": Route("DELETE", one, headers=CHANGE),
    }


APP_FILTERS = (
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
)
DATASET_FILTERS = (
    "publisher",
    "theme",
    "keyword",
    "license",
    "visibility",
    "format",
    "q",
    "origin",
)

ROUTES: dict[str, Route] = {
    **crud(
        "publishers",
        "/api/v1/publishers",
        "{publisher}",
        m.Publisher,
        m.PublisherCreate,
        m.PublisherUpdate,
        query=("q", "kind"),
    ),
    **crud("apps", "/api/v1/apps", "{app_id}", m.App, m.AppCreate, m.AppUpdate, query=APP_FILTERS),
    **crud(
        "releases",
        "/api/v1/apps/{app_id}/releases",
        "{release_id}",
        m.Release,
        m.ReleaseCreate,
        m.ReleaseUpdate,
    ),
    **crud(
        "datasets",
        "/api/v1/datasets",
        "{dataset_id}",
        m.Dataset,
        m.DatasetCreate,
        m.DatasetUpdate,
        query=DATASET_FILTERS,
    ),
    **crud(
        "distributions",
        "/api/v1/datasets/{dataset_id}/distributions",
        "{distribution_id}",
        m.Distribution,
        m.DistributionCreate,
        m.DistributionUpdate,
    ),
    "apps.import": Route(
        "POST",
        "/api/v1/apps/import",
        m.ImportReport,
        query=("publisher", "strict", "visibility"),
        raw_body=True,
    ),
    "apps.publiccode": Route("GET", "/api/v1/apps/{app_id}/publiccode.yml"),
    "releases.upload": Route(
        "POST",
        "/api/v1/apps/{app_id}/releases/{release_id}/artifacts",
        m.Release,
        query=("name", "sha256"),
        headers=(*CREATE, *CHANGE),
        raw_body=True,
    ),
    # sharing
    **crud(
        "adoptions",
        "/api/v1/adoptions",
        "{adoption_id}",
        m.Adoption,
        m.AdoptionCreate,
        m.AdoptionUpdate,
        query=("app_id", "publisher", "status"),
    ),
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

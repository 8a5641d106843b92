"""``/api/v1`` routes of the standards: publiccode.yml in and out."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from registry.catalog import schemas, views
from registry.catalog.fields import HttpUrl, PublisherCode
from registry.catalog.models import Visibility
from registry.db import Bind, session_scope
from registry.deps import EngineDep, SessionDep, SettingsDep
from registry.errors import BadRequest, LumbungError, problem_responses
from registry.formats import dcat, publiccode, service
from registry.formats.fetch import fetch
from registry.http import etag_of, preferred_media, version_of
from registry.oauth.deps import CatalogWriterOutside, PrincipalDep
from registry.principal import Principal
from registry.querying import decode_cursor, encode_cursor
from registry.settings import Settings

router = APIRouter()


class NotAcceptable(LumbungError):
    status, code, title = 406, "not-acceptable", "Not acceptable"


YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


class ImportFromUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: HttpUrl = Field(description="Where the publiccode.yml is served (http or https).")


class ImportIssue(BaseModel):
    path: str = Field(description="Key path in the file, e.g. `description.en.features`.")
    rule: str
    level: str = Field(description="`error` (the official parser rejects it) or `warning`.")
    message: str
    value: Any = None


class ImportReport(BaseModel):
    app: schemas.AppPublic
    created: bool = Field(description="True for a new app, false when one was updated.")
    issues: list[ImportIssue] = Field(
        description="Every problem found, fixed or kept as it is; empty for a clean file."
    )


IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": ImportFromUrl.model_json_schema()},
        },
    }
}


@router.post(
    "/apps/import",
    tags=["apps"],
    operation_id="import_publiccode",
    response_model=ImportReport,
    responses={200: {"model": ImportReport}, **problem_responses(400, 401, 403, 409, 413, 422)},
    status_code=status.HTTP_201_CREATED,
    openapi_extra=IMPORT_BODY,
)
async def import_publiccode(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    principal: CatalogWriterOutside,
    publisher: Annotated[
        PublisherCode | None, Query(description="Owner's code; defaults to the caller's.")
    ] = None,
    strict: Annotated[
        bool, Query(description="Follow the official parser's rules: reject on any error.")
    ] = False,
    visibility: Annotated[
        Visibility | None, Query(description="For a new app; private unless given.")
    ] = None,
) -> JSONResponse:
    """Import a publiccode.yml, sent as the body (`application/yaml`) or named by URL
    (`{"url": …}`). A re-import of the same source `url` updates that app (200);
    otherwise an app is created (201). Every problem comes back at once, with its key
    path: in `issues` when the file is accepted, in the 422 problem's `errors` when not."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if media == "application/json":
        try:
            target = ImportFromUrl.model_validate(json.loads(body or b"null"))
        except (ValueError, ValidationError) as exc:
            raise BadRequest(f'send {{"url": "https://…/publiccode.yml"}}: {exc}') from None
        # Fetched before any transaction opens: nothing waits on the network holding a lock.
        data = await run_in_threadpool(fetch, settings, target.url)
    elif media in YAML_TYPES or media == "":
        data = body
    else:
        raise BadRequest(f"send application/yaml or application/json, not {media!r}")

    def run() -> dict[str, Any]:
        with session_scope(engine) as session:
            result = service.import_publiccode(
                session,
                principal,
                data,
                publisher=publisher,
                strict=strict,
                visibility=visibility,
            )
            app = views.app_public(session, settings, result.app)
        return ImportReport(
            app=app,
            created=result.created,
            issues=[ImportIssue(**i.as_dict()) for i in result.issues],
        ).model_dump(mode="json")

    report = await run_in_threadpool(run)
    return JSONResponse(
        report,
        status_code=201 if report["created"] else 200,
        headers={"Location": f"/api/v1/apps/{report['app']['id']}", "ETag": report["app"]["etag"]},
    )


@router.get(
    "/apps/{app_id}/publiccode.yml",
    tags=["apps"],
    operation_id="export_publiccode",
    response_class=Response,
    responses={
        # A publiccode.yml is a YAML mapping: a client that parses the body (as
        # schemathesis does) gets an object, so "string" would describe the bytes, not
        # the document.
        200: {"content": {"application/yaml": {"schema": {"type": "object"}}}},
        **problem_responses(401, 404, 422),
    },
)
def export_publiccode(
    app_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> Response:
    """The app as a current publiccode.yml (`publiccodeYmlVersion: "0"`), every language
    and every key it was imported with kept."""
    app, document = service.export_document(session, settings, principal, app_id)
    return Response(
        publiccode.dump(document),
        media_type="application/yaml",
        headers={
            "ETag": etag_of(version_of(app)),
            "Content-Disposition": 'inline; filename="publiccode.yml"',
        },
    )


# --- DCAT-AP 3 ---------------------------------------------------------------------

RDF_TYPES = (dcat.JSONLD, dcat.TURTLE)
EXTENSIONS = {"jsonld": dcat.JSONLD, "ttl": dcat.TURTLE}
RDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {dcat.TURTLE: {"schema": {"type": "string"}}, dcat.JSONLD: {}}},
    **problem_responses(401, 404, 406, 422),
}

catalog_router = APIRouter()


def _render(media: str, nodes: list[dcat.Node]) -> bytes:
    if media == dcat.TURTLE:
        return (dcat.turtle_prefixes() + dcat.turtle(nodes)).encode()
    return json.dumps(dcat.jsonld_document(nodes), ensure_ascii=False).encode()


# `:uuid`, as /datasets/{dataset_id} has: otherwise any id with a dot ("0.5") is read
# as an id and an extension here, and a PATCH of it is a 405 instead of a 404.
@router.get(
    "/datasets/{dataset_id:uuid}.{extension}",
    tags=["datasets"],
    operation_id="get_dataset_dcat",
    response_class=Response,
    responses=RDF_RESPONSES,
)
def get_dataset_dcat(
    dataset_id: uuid.UUID,
    extension: Literal["jsonld", "ttl"],
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> Response:
    """A dataset, its distributions and its publisher as DCAT-AP 3: `.ttl` for Turtle,
    `.jsonld` for JSON-LD."""
    media = EXTENSIONS[extension]
    dataset, nodes = service.dataset_document(session, settings, principal, dataset_id)
    return Response(
        _render(media, nodes),
        media_type=media,
        headers={"ETag": etag_of(version_of(dataset))},
    )


def _catalog(
    request: Request,
    settings: Settings,
    engine: Bind,
    principal: Principal | None,
    media: str,
    query: CatalogQuery,
) -> StreamingResponse:
    modified_since = query.modified_since
    if modified_since is not None and modified_since.tzinfo is None:
        modified_since = modified_since.replace(tzinfo=UTC)
    page = service.CatalogPage(
        limit=query.limit,
        cursor=decode_cursor(query.cursor) if query.cursor else None,
        modified_since=modified_since,
        publisher=query.publisher,
    )

    def page_url(after: uuid.UUID | None) -> str:
        url = request.url.remove_query_params("cursor")
        if after is not None:
            url = url.include_query_params(cursor=encode_cursor(after))
        return str(url)

    head, pages = service.catalog_nodes(engine, settings, principal, page, page_url)
    writer = dcat.stream_turtle if media == dcat.TURTLE else dcat.stream_jsonld
    return StreamingResponse(writer(head, pages), media_type=media)


CatalogLimit = Annotated[
    int, Query(ge=1, le=100_000, description="Datasets in this page (Hydra paging).")
]
CatalogCursor = Annotated[
    str | None, Query(max_length=200, description="From the page's `hydra:next`.")
]


def _iso_only(value: object) -> object:
    # pydantic would also read a bare number as a Unix time; the parameter is declared
    # as an ISO 8601 date-time, so only that is accepted.
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[\d.]+(?:[eE][+-]?\d+)?\s*", value):
        raise ValueError("an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z")
    return value


ModifiedSince = Annotated[
    datetime | None,
    BeforeValidator(_iso_only),
    Query(description="Only datasets changed at or after this time (ISO 8601)."),
]
PublisherFilter = Annotated[str | None, Query(description="A publisher's code or id.")]


@dataclass(frozen=True)
class CatalogQuery:
    """What a catalog request asks for, in either format."""

    limit: int
    cursor: str | None
    modified_since: datetime | None
    publisher: str | None


def _catalog_query(
    limit: CatalogLimit = 1000,
    cursor: CatalogCursor = None,
    modified_since: ModifiedSince = None,
    publisher: PublisherFilter = None,
) -> CatalogQuery:
    return CatalogQuery(limit, cursor, modified_since, publisher)


CatalogQueryDep = Annotated[CatalogQuery, Depends(_catalog_query)]


def _catalog_in(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    principal: PrincipalDep,
    query: CatalogQueryDep,
) -> Callable[[str], StreamingResponse]:
    """The catalog the request asks for, to stream in the format the route decides."""
    return lambda media: _catalog(request, settings, engine, principal, media, query)


CatalogDep = Annotated[Callable[[str], StreamingResponse], Depends(_catalog_in)]
_CATALOG_ROUTE: dict[str, Any] = {
    "tags": ["datasets"],
    "response_class": Response,
    "responses": RDF_RESPONSES,
}


@catalog_router.get("/catalog.{extension}", operation_id="get_catalog_dcat", **_CATALOG_ROUTE)
def get_catalog_file(extension: Literal["jsonld", "ttl"], catalog: CatalogDep) -> StreamingResponse:
    """The node's datasets the caller may see, as a DCAT-AP 3 catalog, streamed and
    paged with Hydra (`hydra:view` names the next page)."""
    return catalog(EXTENSIONS[extension])


@catalog_router.get("/catalog", operation_id="get_catalog", **_CATALOG_ROUTE)
def get_catalog(
    catalog: CatalogDep, accept: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    """The DCAT-AP 3 catalog in the format `Accept` asks for: `text/turtle` or
    `application/ld+json` (the default)."""
    media = preferred_media(accept, RDF_TYPES)
    if media is None:
        raise NotAcceptable("this document is served as text/turtle or application/ld+json")
    return catalog(media)

"""``/api/v1`` catalog routes: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import FileResponse, RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from registry import idempotency
from registry.catalog import artifacts, schemas, service, views
from registry.catalog.dependencies import (
    AppDep,
    DatasetDep,
    PublisherDep,
    ReleaseDep,
    app_of_path,
    dataset_of_path,
    distribution_of_path,
    release_of_path,
)
from registry.catalog.models import App, Release
from registry.catalog.routes import ChildRoutes, OwnedRoutes, child_router, owned_router
from registry.db import Bind, session_scope
from registry.deps import CreationDep, EngineDep, PagingDep, SessionDep, SettingsDep, creates
from registry.errors import NotFound, problem_responses
from registry.http import (
    IdempotencyKey,
    IfMatch,
    check_if_match,
    created,
    lock_for_write,
    preferred_media,
    with_etag,
)
from registry.oauth.deps import Admin, CatalogWriterOutside, PrincipalDep
from registry.principal import Principal
from registry.responses import JSONResponse
from registry.settings import Settings

READ_ERRORS = problem_responses(401, 404, 422)
# The DCAT-AP documents a dataset's IRI leads to, by media type.
RDF_DOCUMENTS = {"text/turtle": ".ttl", "application/ld+json": ".jsonld"}
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 412, 413, 422)

publishers = APIRouter(tags=["publishers"])
apps = APIRouter(tags=["apps"])
releases = APIRouter(tags=["releases"])
datasets = APIRouter(tags=["datasets"])


# --- publishers --------------------------------------------------------------------


@publishers.get("/publishers", operation_id="list_publishers", responses=READ_ERRORS)
def list_publishers(
    session: SessionDep,
    settings: SettingsDep,
    paging: PagingDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
) -> schemas.PublishersPublic:
    page = service.list_publishers(
        session, q=q, kind=kind, limit=paging.limit, cursor=paging.cursor
    )
    return schemas.PublishersPublic(
        items=[views.publisher_public(settings, p) for p in page.items],
        next_cursor=paging.next(page),
    )


@creates(publishers, "/publishers", "create_publisher", schemas.PublisherPublic, WRITE_ERRORS)
def create_publisher(
    principal: Admin,
    publisher_in: schemas.PublisherCreate,
    session: SessionDep,
    settings: SettingsDep,
    creation: CreationDep,
) -> JSONResponse:
    def create() -> schemas.PublisherPublic:
        return views.publisher_public(settings, service.create_publisher(session, publisher_in))

    return creation(principal, publisher_in, create, "/api/v1/publishers")


@publishers.get("/publishers/{publisher_ref}", operation_id="get_publisher", responses=READ_ERRORS)
def get_publisher(
    publisher: PublisherDep, response: Response, settings: SettingsDep
) -> schemas.PublisherPublic:
    """A publisher by id or by code."""
    with_etag(response, publisher)
    return views.publisher_public(settings, publisher)


@publishers.patch(
    "/publishers/{publisher_ref}", operation_id="update_publisher", responses=WRITE_ERRORS
)
def update_publisher(
    principal: Admin,
    publisher: PublisherDep,
    publisher_in: schemas.PublisherUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> schemas.PublisherPublic:
    publisher = lock_for_write(session, publisher, if_match)
    publisher = service.update_publisher(session, publisher, publisher_in)
    with_etag(response, publisher)
    return views.publisher_public(settings, publisher)


@publishers.delete(
    "/publishers/{publisher_ref}",
    operation_id="delete_publisher",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_publisher(
    principal: Admin, publisher: PublisherDep, session: SessionDep, if_match: IfMatch = None
) -> None:
    publisher = lock_for_write(session, publisher, if_match)
    service.delete_publisher(session, publisher)


# --- apps --------------------------------------------------------------------------


@apps.get("/apps", operation_id="list_apps", responses=READ_ERRORS)
def list_apps(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    filters: Annotated[schemas.AppFilters, Query()],
    paging: PagingDep,
) -> schemas.AppsPublic:
    page = service.list_apps(session, principal, filters, limit=paging.limit, cursor=paging.cursor)
    return schemas.AppsPublic(
        items=views.apps_public(session, settings, page.items), next_cursor=paging.next(page)
    )


# `:uuid` in the paths of /apps/{app_id} and /datasets/{dataset_id}: without it
# /apps/import and /datasets/<id>.jsonld also match them, so a method those paths do
# not take was a 422 about the id instead of a 405 naming the methods they do take.
# The OpenAPI document shows the path without the convertor.
@apps.get("/apps/{app_id:uuid}", operation_id="get_app", responses=READ_ERRORS)
def get_app(
    app: AppDep, response: Response, session: SessionDep, settings: SettingsDep
) -> schemas.AppPublic:
    with_etag(response, app)
    return views.app_public(session, settings, app)


# Created, changed and deleted as datasets are (registry.catalog.routes).
APPS = OwnedRoutes(
    name="app",
    path="/apps/{app_id:uuid}",
    loader=app_of_path,
    schemas=(schemas.AppCreate, schemas.AppUpdate, schemas.AppPublic),
    view=views.app_public,
    rules=(service.create_app, service.update_app, service.delete_app),
)


# --- releases ----------------------------------------------------------------------


@releases.post(
    "/apps/{app_id}/releases/{release_id}/artifacts",
    operation_id="upload_artifact",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ReleasePublic,
    responses=WRITE_ERRORS,
    openapi_extra={"requestBody": artifacts.REQUEST_BODY},
)
async def upload_artifact(
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    name: Annotated[artifacts.UploadName, Query(description="The file's name in the release.")],
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    principal: CatalogWriterOutside,
    sha256: Annotated[
        schemas.Sha256 | None,
        Query(description="The file's sha256 (hex), checked once the file has arrived."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Upload one file of a release and list it in the release's artifacts, with its
    size, sha256 and this node's download URL. A name already in the release is 409."""
    # The body may take minutes to arrive: what can refuse it is checked before, and
    # the file listed after, each in a unit of work of its own, so that no transaction
    # (on SQLite, no write lock) is held while it streams.
    upload = Upload(engine, principal, app_id, release_id, name, idempotency_key, if_match)
    await run_in_threadpool(upload.check)
    received = await artifacts.receive(request, settings, sha256=sha256)
    try:
        return await run_in_threadpool(upload.add, request, settings, received)
    finally:
        received.discard()


@dataclass(frozen=True)
class Upload:
    """The two units of work of an upload, around the body's arrival."""

    engine: Bind
    principal: Principal
    app_id: uuid.UUID
    release_id: uuid.UUID
    name: str
    idempotency_key: str | None
    if_match: str | None

    def check(self) -> None:
        """Everything that refuses an upload and can be known before its body is read."""
        with session_scope(self.engine, write=False) as session:
            app, release = self._load(session)
            service.ensure_may_change(self.principal, app)
            # A retry of an upload whose response was lost is answered by replaying
            # that response, though the release has changed (it lists the file) since.
            key = self.idempotency_key
            if key is None or not idempotency.exists(session, self.principal.client_id, key):
                check_if_match(self.if_match, release.change_seq)
                service.ensure_artifact_name_free(release, self.name)

    def add(
        self, request: Request, settings: Settings, received: artifacts.Received
    ) -> JSONResponse:
        """List the received file in the release (and store it), once per key."""
        with session_scope(self.engine) as session:
            app, release = self._load(session)
            artifact = schemas.Artifact(
                name=self.name,
                url=artifacts.download_url(settings, app.id, release.id, self.name),
                sha256=received.sha256,
                size=received.size,
                media_type=received.media_type,
            )

            def add() -> schemas.ReleasePublic:
                locked = lock_for_write(session, release, self.if_match)
                artifacts.store(settings, received)
                added = service.add_artifact(session, self.principal, app, locked, artifact)
                return views.release_public(settings, added)

            return created(
                request,
                session,
                self.principal,
                self.idempotency_key,
                artifact,
                add,
                lambda _: artifacts.download_path(app.id, release.id, self.name),
            )

    def _load(self, session: Session) -> tuple[App, Release]:
        app = service.get_app(session, self.principal, self.app_id)
        return app, service.get_release(session, app, self.release_id)


@releases.get(
    "/apps/{app_id}/releases/{release_id}/artifacts/{name}",
    operation_id="download_artifact",
    response_class=FileResponse,
    responses=artifacts.DOWNLOAD_RESPONSES | READ_ERRORS,
)
@releases.head("/apps/{app_id}/releases/{release_id}/artifacts/{name}", include_in_schema=False)
def download_artifact(
    app: AppDep,
    release: ReleaseDep,
    name: str,
    settings: SettingsDep,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """A file of a release. One uploaded to this node is sent from its store (`Range`
    and `HEAD` work); any other artifact is a redirect (302) to its URL."""
    artifact = artifacts.find(release.artifacts, name)
    if artifact is None:
        raise NotFound(f"release {release.version!r} has no file named {name!r}")
    if app.origin is not None or not artifacts.is_upload_of(artifact, app.id, release.id):
        return RedirectResponse(artifact["url"], status_code=status.HTTP_302_FOUND)
    sha256 = artifact["sha256"]
    path = artifacts.blob_path(settings, sha256)
    if not path.is_file():
        raise NotFound(f"the file {name!r} is missing from this node's store")
    headers = {
        "ETag": f'"{sha256}"',
        "Repr-Digest": artifacts.repr_digest(sha256),
        **artifacts.FILE_SECURITY_HEADERS,
    }
    if if_none_match is not None and (
        if_none_match.strip() == "*" or headers["ETag"] in if_none_match
    ):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    headers["Content-Disposition"] = artifacts.content_disposition(name)
    media_type = artifacts.served_media_type(artifact.get("media_type"))
    return FileResponse(path, headers=headers, media_type=media_type)


# Listed, created, read, changed and deleted as a dataset's distributions are, by the
# routes of registry.catalog.routes.
RELEASES = ChildRoutes(
    name="release",
    path="/apps/{app_id}/releases/{release_id}",
    loaders=(app_of_path, release_of_path),
    bodies=(schemas.ReleaseCreate, schemas.ReleaseUpdate),
    public=(schemas.ReleasePublic, schemas.ReleasesPublic),
    view=views.release_public,
    list=service.list_releases,
    create=service.create_release,
    update=service.update_release,
    delete=service.delete_release,
)


# --- datasets ----------------------------------------------------------------------


@datasets.get("/datasets", operation_id="list_datasets", responses=READ_ERRORS)
def list_datasets(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    filters: Annotated[schemas.DatasetFilters, Query()],
    paging: PagingDep,
) -> schemas.DatasetsPublic:
    page = service.list_datasets(
        session, principal, filters, limit=paging.limit, cursor=paging.cursor
    )
    return schemas.DatasetsPublic(
        items=views.datasets_public(session, settings, page.items), next_cursor=paging.next(page)
    )


@datasets.get(
    "/datasets/{dataset_id:uuid}",
    operation_id="get_dataset",
    response_model=schemas.DatasetPublic,
    responses=READ_ERRORS,
)
def get_dataset(
    dataset: DatasetDep,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    accept: Annotated[str | None, Header()] = None,
) -> schemas.DatasetPublic | Response:
    """A dataset. Its id is also its DCAT-AP IRI: asked for Turtle or JSON-LD in
    `Accept`, it answers 303 to the dataset's DCAT-AP document."""
    wanted = preferred_media(accept, ("application/json", *RDF_DOCUMENTS))
    if wanted in RDF_DOCUMENTS:
        return RedirectResponse(
            f"/api/v1/datasets/{dataset.id}{RDF_DOCUMENTS[wanted]}", status_code=303
        )
    with_etag(response, dataset)
    return views.dataset_public(session, settings, dataset)


# Created, changed and deleted as apps are (see APPS).
DATASETS = OwnedRoutes(
    name="dataset",
    path="/datasets/{dataset_id:uuid}",
    loader=dataset_of_path,
    schemas=(schemas.DatasetCreate, schemas.DatasetUpdate, schemas.DatasetPublic),
    view=views.dataset_public,
    rules=(service.create_dataset, service.update_dataset, service.delete_dataset),
)


# --- distributions ------------------------------------------------------------------

# Listed, created, read, changed and deleted as releases are (see RELEASES).
DISTRIBUTIONS = ChildRoutes(
    name="distribution",
    path="/datasets/{dataset_id}/distributions/{distribution_id}",
    loaders=(dataset_of_path, distribution_of_path),
    bodies=(schemas.DistributionCreate, schemas.DistributionUpdate),
    public=(schemas.DistributionPublic, schemas.DistributionsPublic),
    view=views.distribution_public,
    list=service.list_distributions,
    create=service.create_distribution,
    update=service.update_distribution,
    delete=service.delete_distribution,
)


router = APIRouter()
for part in (
    publishers,
    apps,
    owned_router(APPS, WRITE_ERRORS),
    child_router(RELEASES, READ_ERRORS, WRITE_ERRORS),
    releases,
    datasets,
    owned_router(DATASETS, WRITE_ERRORS),
    child_router(DISTRIBUTIONS, READ_ERRORS, WRITE_ERRORS),
):
    router.include_router(part)

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
    DistributionDep,
    PublisherDep,
    ReleaseDep,
)
from registry.catalog.models import App, Release
from registry.db import Bind, session_scope
from registry.deps import CreationDep, EngineDep, PagingDep, SessionDep, SettingsDep
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
from registry.oauth.deps import Admin, CatalogWriter, CatalogWriterOutside, PrincipalDep
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
distributions = APIRouter(tags=["distributions"])


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


@publishers.post(
    "/publishers",
    operation_id="create_publisher",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PublisherPublic,
    responses=WRITE_ERRORS,
)
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


@apps.post(
    "/apps",
    operation_id="create_app",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.AppPublic,
    responses=WRITE_ERRORS,
)
def create_app(
    principal: CatalogWriter,
    app_in: schemas.AppCreate,
    session: SessionDep,
    settings: SettingsDep,
    creation: CreationDep,
) -> JSONResponse:
    def create() -> schemas.AppPublic:
        return views.app_public(session, settings, service.create_app(session, principal, app_in))

    return creation(principal, app_in, create, "/api/v1/apps")


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


@apps.patch("/apps/{app_id:uuid}", operation_id="update_app", responses=WRITE_ERRORS)
def update_app(
    principal: CatalogWriter,
    app: AppDep,
    app_in: schemas.AppUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> schemas.AppPublic:
    app = lock_for_write(session, app, if_match)
    app = service.update_app(session, principal, app, app_in)
    with_etag(response, app)
    return views.app_public(session, settings, app)


@apps.delete(
    "/apps/{app_id:uuid}",
    operation_id="delete_app",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_app(
    principal: CatalogWriter, app: AppDep, session: SessionDep, if_match: IfMatch = None
) -> None:
    app = lock_for_write(session, app, if_match)
    service.delete_app(session, principal, app)


# --- releases ----------------------------------------------------------------------


@releases.get("/apps/{app_id}/releases", operation_id="list_releases", responses=READ_ERRORS)
def list_releases(
    app: AppDep,
    session: SessionDep,
    settings: SettingsDep,
    paging: PagingDep,
) -> schemas.ReleasesPublic:
    page = service.list_releases(session, app, limit=paging.limit, cursor=paging.cursor)
    return schemas.ReleasesPublic(
        items=[views.release_public(settings, r) for r in page.items],
        next_cursor=paging.next(page),
    )


@releases.post(
    "/apps/{app_id}/releases",
    operation_id="create_release",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ReleasePublic,
    responses=WRITE_ERRORS,
)
def create_release(
    principal: CatalogWriter,
    app: AppDep,
    release_in: schemas.ReleaseCreate,
    session: SessionDep,
    settings: SettingsDep,
    creation: CreationDep,
) -> JSONResponse:
    def create() -> schemas.ReleasePublic:
        release = service.create_release(session, principal, app, release_in)
        return views.release_public(settings, release)

    return creation(principal, release_in, create, f"/api/v1/apps/{app.id}/releases")


@releases.get(
    "/apps/{app_id}/releases/{release_id}", operation_id="get_release", responses=READ_ERRORS
)
def get_release(
    release: ReleaseDep, response: Response, settings: SettingsDep
) -> schemas.ReleasePublic:
    with_etag(response, release)
    return views.release_public(settings, release)


@releases.patch(
    "/apps/{app_id}/releases/{release_id}", operation_id="update_release", responses=WRITE_ERRORS
)
def update_release(
    principal: CatalogWriter,
    app: AppDep,
    release: ReleaseDep,
    release_in: schemas.ReleaseUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> schemas.ReleasePublic:
    release = lock_for_write(session, release, if_match)
    release = service.update_release(session, principal, app, release, release_in)
    with_etag(response, release)
    return views.release_public(settings, release)


@releases.delete(
    "/apps/{app_id}/releases/{release_id}",
    operation_id="delete_release",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_release(
    principal: CatalogWriter,
    app: AppDep,
    release: ReleaseDep,
    session: SessionDep,
    if_match: IfMatch = None,
) -> None:
    release = lock_for_write(session, release, if_match)
    service.delete_release(session, principal, app, release)


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


@datasets.post(
    "/datasets",
    operation_id="create_dataset",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DatasetPublic,
    responses=WRITE_ERRORS,
)
def create_dataset(
    principal: CatalogWriter,
    dataset_in: schemas.DatasetCreate,
    session: SessionDep,
    settings: SettingsDep,
    creation: CreationDep,
) -> JSONResponse:
    def create() -> schemas.DatasetPublic:
        dataset = service.create_dataset(session, principal, dataset_in)
        return views.dataset_public(session, settings, dataset)

    return creation(principal, dataset_in, create, "/api/v1/datasets")


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


@datasets.patch(
    "/datasets/{dataset_id:uuid}", operation_id="update_dataset", responses=WRITE_ERRORS
)
def update_dataset(
    principal: CatalogWriter,
    dataset: DatasetDep,
    dataset_in: schemas.DatasetUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> schemas.DatasetPublic:
    dataset = lock_for_write(session, dataset, if_match)
    dataset = service.update_dataset(session, principal, dataset, dataset_in)
    with_etag(response, dataset)
    return views.dataset_public(session, settings, dataset)


@datasets.delete(
    "/datasets/{dataset_id:uuid}",
    operation_id="delete_dataset",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_dataset(
    principal: CatalogWriter, dataset: DatasetDep, session: SessionDep, if_match: IfMatch = None
) -> None:
    dataset = lock_for_write(session, dataset, if_match)
    service.delete_dataset(session, principal, dataset)


# --- distributions -----------------------------------------------------------------


@distributions.get(
    "/datasets/{dataset_id}/distributions", operation_id="list_distributions", responses=READ_ERRORS
)
def list_distributions(
    dataset: DatasetDep,
    session: SessionDep,
    settings: SettingsDep,
    paging: PagingDep,
) -> schemas.DistributionsPublic:
    page = service.list_distributions(session, dataset, limit=paging.limit, cursor=paging.cursor)
    return schemas.DistributionsPublic(
        items=[views.distribution_public(settings, d) for d in page.items],
        next_cursor=paging.next(page),
    )


@distributions.post(
    "/datasets/{dataset_id}/distributions",
    operation_id="create_distribution",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DistributionPublic,
    responses=WRITE_ERRORS,
)
def create_distribution(
    principal: CatalogWriter,
    dataset: DatasetDep,
    distribution_in: schemas.DistributionCreate,
    session: SessionDep,
    settings: SettingsDep,
    creation: CreationDep,
) -> JSONResponse:
    def create() -> schemas.DistributionPublic:
        distribution = service.create_distribution(session, principal, dataset, distribution_in)
        return views.distribution_public(settings, distribution)

    collection = f"/api/v1/datasets/{dataset.id}/distributions"
    return creation(principal, distribution_in, create, collection)


@distributions.get(
    "/datasets/{dataset_id}/distributions/{distribution_id}",
    operation_id="get_distribution",
    responses=READ_ERRORS,
)
def get_distribution(
    distribution: DistributionDep, response: Response, settings: SettingsDep
) -> schemas.DistributionPublic:
    with_etag(response, distribution)
    return views.distribution_public(settings, distribution)


@distributions.patch(
    "/datasets/{dataset_id}/distributions/{distribution_id}",
    operation_id="update_distribution",
    responses=WRITE_ERRORS,
)
def update_distribution(
    principal: CatalogWriter,
    dataset: DatasetDep,
    distribution: DistributionDep,
    distribution_in: schemas.DistributionUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> schemas.DistributionPublic:
    distribution = lock_for_write(session, distribution, if_match)
    distribution = service.update_distribution(
        session, principal, dataset, distribution, distribution_in
    )
    with_etag(response, distribution)
    return views.distribution_public(settings, distribution)


@distributions.delete(
    "/datasets/{dataset_id}/distributions/{distribution_id}",
    operation_id="delete_distribution",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_distribution(
    principal: CatalogWriter,
    dataset: DatasetDep,
    distribution: DistributionDep,
    session: SessionDep,
    if_match: IfMatch = None,
) -> None:
    distribution = lock_for_write(session, distribution, if_match)
    service.delete_distribution(session, principal, dataset, distribution)


router = APIRouter()
for part in (publishers, apps, releases, datasets, distributions):
    router.include_router(part)

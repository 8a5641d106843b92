"""``/api/v1`` catalog routes: parse, authorise, call the service, shape the response."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import FileResponse, RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from registry import idempotency
from registry.catalog import artifacts, public, schemas, service
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release, Visibility
from registry.deps import SessionDep, SettingsDep
from registry.errors import NotFound, problem_responses
from registry.http import (
    IdempotencyKey,
    IfMatch,
    check_if_match,
    created,
    lock_for_write,
    preferred_media,
    set_next_link,
    with_etag,
)
from registry.oauth.deps import Admin, CatalogWriter, PrincipalDep
from registry.principal import Principal
from registry.querying import by_ids
from registry.responses import JSONResponse
from registry.settings import Settings

READ_ERRORS = problem_responses(401, 404, 422)
# The DCAT-AP documents a dataset's IRI leads to, by media type.
RDF_DOCUMENTS = {"text/turtle": ".ttl", "application/ld+json": ".jsonld"}
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 412, 413, 422)

router = APIRouter()


def page_size(
    settings: SettingsDep, limit: Annotated[int | None, Query(ge=1, le=200)] = None
) -> int:
    return min(limit or settings.default_page_size, settings.max_page_size)


Limit = Annotated[int, Depends(page_size)]
Cursor = Annotated[str | None, Query(max_length=200, description="From `next_cursor`.")]


_tracked = public.tracked


# --- publishers --------------------------------------------------------------------


def publisher_public(settings: Settings, publisher: Publisher) -> schemas.PublisherPublic:
    return schemas.PublisherPublic.model_validate(
        {**publisher.model_dump(), **_tracked(settings, publisher, f"publishers/{publisher.id}")}
    )


@router.get(
    "/publishers",
    tags=["publishers"],
    operation_id="list_publishers",
    response_model=schemas.PublishersPublic,
    responses=READ_ERRORS,
)
def list_publishers(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    limit: Limit,
    cursor: Cursor = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
) -> schemas.PublishersPublic:
    page = service.list_publishers(session, q=q, kind=kind, limit=limit, cursor=cursor)
    set_next_link(request, response, page.next_cursor)
    return schemas.PublishersPublic(
        items=[publisher_public(settings, p) for p in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/publishers",
    tags=["publishers"],
    operation_id="create_publisher",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PublisherPublic,
    responses=WRITE_ERRORS,
)
def create_publisher(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Admin,
    publisher_in: schemas.PublisherCreate,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(
        request,
        session,
        principal,
        idempotency_key,
        publisher_in,
        lambda: publisher_public(settings, service.create_publisher(session, publisher_in)),
        lambda body: f"/api/v1/publishers/{body['id']}",
    )


@router.get(
    "/publishers/{publisher_ref}",
    tags=["publishers"],
    operation_id="get_publisher",
    response_model=schemas.PublisherPublic,
    responses=READ_ERRORS,
)
def get_publisher(
    publisher_ref: str, response: Response, session: SessionDep, settings: SettingsDep
) -> schemas.PublisherPublic:
    """A publisher by id or by code."""
    publisher = service.get_publisher(session, publisher_ref)
    with_etag(response, publisher)
    return publisher_public(settings, publisher)


@router.patch(
    "/publishers/{publisher_ref}",
    tags=["publishers"],
    operation_id="update_publisher",
    response_model=schemas.PublisherPublic,
    responses=WRITE_ERRORS,
)
def update_publisher(
    publisher_ref: str,
    publisher_in: schemas.PublisherUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: Admin,
    if_match: IfMatch = None,
) -> schemas.PublisherPublic:
    publisher = service.get_publisher(session, publisher_ref)
    publisher = lock_for_write(session, publisher, if_match)
    publisher = service.update_publisher(session, publisher, publisher_in)
    with_etag(response, publisher)
    return publisher_public(settings, publisher)


@router.delete(
    "/publishers/{publisher_ref}",
    tags=["publishers"],
    operation_id="delete_publisher",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_publisher(
    publisher_ref: str, session: SessionDep, principal: Admin, if_match: IfMatch = None
) -> None:
    publisher = service.get_publisher(session, publisher_ref)
    publisher = lock_for_write(session, publisher, if_match)
    service.delete_publisher(session, publisher)


# --- apps --------------------------------------------------------------------------


apps_public = public.apps_public
app_public = public.app_public


def app_filters(
    publisher: Annotated[
        str | None, Query(description="Publisher id, code, or `code@node-id` (`publisher_ref`)")
    ] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    development_status: Annotated[str | None, Query(max_length=32)] = None,
    license: Annotated[str | None, Query(max_length=500)] = None,
    visibility: Visibility | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    spbe_class: Annotated[str | None, Query(max_length=16)] = None,
    raa_code: Annotated[
        str | None, Query(max_length=32, description="A code of the SPBE reference architecture")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text to look for")] = None,
    origin: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="`local` (this node's own), `peers` (every mirror) or a peer's node id",
        ),
    ] = None,
) -> service.AppFilters:
    return service.AppFilters(
        publisher=publisher,
        category=category,
        development_status=development_status,
        license=license,
        visibility=visibility,
        tag=tag,
        platform=platform,
        spbe_class=spbe_class,
        raa_code=raa_code,
        q=q,
        origin=origin,
    )


@router.get(
    "/apps",
    tags=["apps"],
    operation_id="list_apps",
    response_model=schemas.AppsPublic,
    responses=READ_ERRORS,
)
def list_apps(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    filters: Annotated[service.AppFilters, Depends(app_filters)],
    limit: Limit,
    cursor: Cursor = None,
) -> schemas.AppsPublic:
    page = service.list_apps(session, principal, filters, limit=limit, cursor=cursor)
    set_next_link(request, response, page.next_cursor)
    return schemas.AppsPublic(
        items=apps_public(session, settings, page.items), next_cursor=page.next_cursor
    )


@router.post(
    "/apps",
    tags=["apps"],
    operation_id="create_app",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.AppPublic,
    responses=WRITE_ERRORS,
)
def create_app(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    app_in: schemas.AppCreate,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(
        request,
        session,
        principal,
        idempotency_key,
        app_in,
        lambda: app_public(session, settings, service.create_app(session, principal, app_in)),
        lambda body: f"/api/v1/apps/{body['id']}",
    )


# `:uuid` in the paths of /apps/{app_id} and /datasets/{dataset_id}: without it
# /apps/import and /datasets/<id>.jsonld also match them, so a method those paths do
# not take was a 422 about the id instead of a 405 naming the methods they do take.
# The OpenAPI document shows the path without the convertor.
@router.get(
    "/apps/{app_id:uuid}",
    tags=["apps"],
    operation_id="get_app",
    response_model=schemas.AppPublic,
    responses=READ_ERRORS,
)
def get_app(
    app_id: uuid.UUID,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> schemas.AppPublic:
    app = service.get_app(session, principal, app_id)
    with_etag(response, app)
    return app_public(session, settings, app)


@router.patch(
    "/apps/{app_id:uuid}",
    tags=["apps"],
    operation_id="update_app",
    response_model=schemas.AppPublic,
    responses=WRITE_ERRORS,
)
def update_app(
    app_id: uuid.UUID,
    app_in: schemas.AppUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    if_match: IfMatch = None,
) -> schemas.AppPublic:
    app = service.get_app(session, principal, app_id)
    app = lock_for_write(session, app, if_match)
    app = service.update_app(session, principal, app, app_in)
    with_etag(response, app)
    return app_public(session, settings, app)


@router.delete(
    "/apps/{app_id:uuid}",
    tags=["apps"],
    operation_id="delete_app",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_app(
    app_id: uuid.UUID, session: SessionDep, principal: CatalogWriter, if_match: IfMatch = None
) -> None:
    app = service.get_app(session, principal, app_id)
    app = lock_for_write(session, app, if_match)
    service.delete_app(session, principal, app)


# --- releases ----------------------------------------------------------------------


def release_public(settings: Settings, release: Release) -> schemas.ReleasePublic:
    path = f"apps/{release.app_id}/releases/{release.id}"
    return schemas.ReleasePublic.model_validate(
        {**release.model_dump(), **_tracked(settings, release, path)}
    )


@router.get(
    "/apps/{app_id}/releases",
    tags=["releases"],
    operation_id="list_releases",
    response_model=schemas.ReleasesPublic,
    responses=READ_ERRORS,
)
def list_releases(
    app_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Limit,
    cursor: Cursor = None,
) -> schemas.ReleasesPublic:
    app = service.get_app(session, principal, app_id)
    page = service.list_releases(session, app, limit=limit, cursor=cursor)
    set_next_link(request, response, page.next_cursor)
    return schemas.ReleasesPublic(
        items=[release_public(settings, r) for r in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/apps/{app_id}/releases",
    tags=["releases"],
    operation_id="create_release",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ReleasePublic,
    responses=WRITE_ERRORS,
)
def create_release(
    app_id: uuid.UUID,
    release_in: schemas.ReleaseCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    app = service.get_app(session, principal, app_id)
    return created(
        request,
        session,
        principal,
        idempotency_key,
        release_in,
        lambda: release_public(
            settings, service.create_release(session, principal, app, release_in)
        ),
        lambda body: f"/api/v1/apps/{app_id}/releases/{body['id']}",
    )


@router.get(
    "/apps/{app_id}/releases/{release_id}",
    tags=["releases"],
    operation_id="get_release",
    response_model=schemas.ReleasePublic,
    responses=READ_ERRORS,
)
def get_release(
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> schemas.ReleasePublic:
    app = service.get_app(session, principal, app_id)
    release = service.get_release(session, app, release_id)
    with_etag(response, release)
    return release_public(settings, release)


@router.patch(
    "/apps/{app_id}/releases/{release_id}",
    tags=["releases"],
    operation_id="update_release",
    response_model=schemas.ReleasePublic,
    responses=WRITE_ERRORS,
)
def update_release(
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    release_in: schemas.ReleaseUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    if_match: IfMatch = None,
) -> schemas.ReleasePublic:
    app = service.get_app(session, principal, app_id)
    release = service.get_release(session, app, release_id)
    release = lock_for_write(session, release, if_match)
    release = service.update_release(session, principal, app, release, release_in)
    with_etag(response, release)
    return release_public(settings, release)


@router.delete(
    "/apps/{app_id}/releases/{release_id}",
    tags=["releases"],
    operation_id="delete_release",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_release(
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    session: SessionDep,
    principal: CatalogWriter,
    if_match: IfMatch = None,
) -> None:
    app = service.get_app(session, principal, app_id)
    release = service.get_release(session, app, release_id)
    release = lock_for_write(session, release, if_match)
    service.delete_release(session, principal, app, release)


@router.post(
    "/apps/{app_id}/releases/{release_id}/artifacts",
    tags=["releases"],
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
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    sha256: Annotated[
        schemas.Sha256 | None,
        Query(description="The file's sha256 (hex), checked once the file has arrived."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Upload one file of a release and list it in the release's artifacts, with its
    size, sha256 and this node's download URL. A name already in the release is 409."""
    app, release = await run_in_threadpool(
        _release_to_upload_to,
        session,
        principal,
        app_id,
        release_id,
        name,
        idempotency_key,
        if_match,
    )
    received = await artifacts.receive(request, settings, sha256=sha256)

    def add() -> schemas.ReleasePublic:
        locked = lock_for_write(session, release, if_match)
        artifacts.store(settings, received)
        return release_public(
            settings, service.add_artifact(session, principal, app, locked, artifact)
        )

    try:
        artifact = schemas.Artifact(
            name=name,
            url=artifacts.download_url(settings, app.id, release.id, name),
            sha256=received.sha256,
            size=received.size,
            media_type=received.media_type,
        )
        return await run_in_threadpool(
            created,
            request,
            session,
            principal,
            idempotency_key,
            artifact,
            add,
            lambda _: artifacts.download_path(app.id, release.id, name),
        )
    finally:
        received.discard()


def _release_to_upload_to(
    session: Session,
    principal: Principal,
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    name: str,
    idempotency_key: str | None,
    if_match: str | None,
) -> tuple[App, Release]:
    """Everything that refuses an upload and can be known before its body is read."""
    app = service.get_app(session, principal, app_id)
    release = service.get_release(session, app, release_id)
    service.ensure_local(app)
    service.ensure_owner(principal, app.publisher_id)
    # A retry of an upload whose response was lost is answered by replaying that
    # response, though the release has changed (it lists the file) since.
    if idempotency_key is None or not idempotency.exists(
        session, principal.client_id, idempotency_key
    ):
        check_if_match(if_match, release.change_seq)
        service.ensure_artifact_name_free(release, name)
    # The body may take minutes to arrive: end this read-only transaction now rather
    # than hold the database (on SQLite, its write lock) while it streams.
    session.commit()
    return app, release


@router.get(
    "/apps/{app_id}/releases/{release_id}/artifacts/{name}",
    tags=["releases"],
    operation_id="download_artifact",
    response_class=FileResponse,
    responses=artifacts.DOWNLOAD_RESPONSES | READ_ERRORS,
)
@router.head("/apps/{app_id}/releases/{release_id}/artifacts/{name}", include_in_schema=False)
def download_artifact(
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """A file of a release. One uploaded to this node is sent from its store (`Range`
    and `HEAD` work); any other artifact is a redirect (302) to its URL."""
    app = service.get_app(session, principal, app_id)
    release = service.get_release(session, app, release_id)
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


def datasets_public(
    session: SessionDep, settings: Settings, datasets: Sequence[Dataset]
) -> list[schemas.DatasetPublic]:
    publishers = by_ids(session, Publisher, [d.publisher_id for d in datasets])
    return [
        schemas.DatasetPublic.model_validate(
            {
                **dataset.model_dump(),
                "publisher": publishers[dataset.publisher_id].code,
                "publisher_ref": service.publisher_ref(publishers[dataset.publisher_id]),
                **_tracked(settings, dataset, f"datasets/{dataset.id}"),
            }
        )
        for dataset in datasets
    ]


def dataset_public(
    session: SessionDep, settings: Settings, dataset: Dataset
) -> schemas.DatasetPublic:
    return datasets_public(session, settings, [dataset])[0]


def dataset_filters(
    publisher: Annotated[
        str | None, Query(description="Publisher id, code, or `code@node-id` (`publisher_ref`)")
    ] = None,
    theme: Annotated[
        str | None, Query(max_length=8, description="EU data theme, e.g. HEAL")
    ] = None,
    keyword: Annotated[str | None, Query(max_length=100)] = None,
    license: Annotated[str | None, Query(max_length=500)] = None,
    visibility: Visibility | None = None,
    format: Annotated[str | None, Query(max_length=64, description="Distribution format")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text to look for")] = None,
    origin: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="`local` (this node's own), `peers` (every mirror) or a peer's node id",
        ),
    ] = None,
) -> service.DatasetFilters:
    return service.DatasetFilters(
        publisher=publisher,
        theme=theme,
        keyword=keyword,
        license=license,
        visibility=visibility,
        format=format,
        q=q,
        origin=origin,
    )


@router.get(
    "/datasets",
    tags=["datasets"],
    operation_id="list_datasets",
    response_model=schemas.DatasetsPublic,
    responses=READ_ERRORS,
)
def list_datasets(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    filters: Annotated[service.DatasetFilters, Depends(dataset_filters)],
    limit: Limit,
    cursor: Cursor = None,
) -> schemas.DatasetsPublic:
    page = service.list_datasets(session, principal, filters, limit=limit, cursor=cursor)
    set_next_link(request, response, page.next_cursor)
    return schemas.DatasetsPublic(
        items=datasets_public(session, settings, page.items), next_cursor=page.next_cursor
    )


@router.post(
    "/datasets",
    tags=["datasets"],
    operation_id="create_dataset",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DatasetPublic,
    responses=WRITE_ERRORS,
)
def create_dataset(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    dataset_in: schemas.DatasetCreate,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(
        request,
        session,
        principal,
        idempotency_key,
        dataset_in,
        lambda: dataset_public(
            session, settings, service.create_dataset(session, principal, dataset_in)
        ),
        lambda body: f"/api/v1/datasets/{body['id']}",
    )


@router.get(
    "/datasets/{dataset_id:uuid}",
    tags=["datasets"],
    operation_id="get_dataset",
    response_model=schemas.DatasetPublic,
    responses=READ_ERRORS,
)
def get_dataset(
    dataset_id: uuid.UUID,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    accept: Annotated[str | None, Header()] = None,
) -> schemas.DatasetPublic | Response:
    """A dataset. Its id is also its DCAT-AP IRI: asked for Turtle or JSON-LD in
    `Accept`, it answers 303 to the dataset's DCAT-AP document."""
    dataset = service.get_dataset(session, principal, dataset_id)
    wanted = preferred_media(accept, ("application/json", *RDF_DOCUMENTS))
    if wanted in RDF_DOCUMENTS:
        return RedirectResponse(
            f"/api/v1/datasets/{dataset_id}{RDF_DOCUMENTS[wanted]}", status_code=303
        )
    with_etag(response, dataset)
    return dataset_public(session, settings, dataset)


@router.patch(
    "/datasets/{dataset_id:uuid}",
    tags=["datasets"],
    operation_id="update_dataset",
    response_model=schemas.DatasetPublic,
    responses=WRITE_ERRORS,
)
def update_dataset(
    dataset_id: uuid.UUID,
    dataset_in: schemas.DatasetUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    if_match: IfMatch = None,
) -> schemas.DatasetPublic:
    dataset = service.get_dataset(session, principal, dataset_id)
    dataset = lock_for_write(session, dataset, if_match)
    dataset = service.update_dataset(session, principal, dataset, dataset_in)
    with_etag(response, dataset)
    return dataset_public(session, settings, dataset)


@router.delete(
    "/datasets/{dataset_id:uuid}",
    tags=["datasets"],
    operation_id="delete_dataset",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_dataset(
    dataset_id: uuid.UUID, session: SessionDep, principal: CatalogWriter, if_match: IfMatch = None
) -> None:
    dataset = service.get_dataset(session, principal, dataset_id)
    dataset = lock_for_write(session, dataset, if_match)
    service.delete_dataset(session, principal, dataset)


# --- distributions -----------------------------------------------------------------


def distribution_public(
    settings: Settings, distribution: Distribution
) -> schemas.DistributionPublic:
    path = f"datasets/{distribution.dataset_id}/distributions/{distribution.id}"
    return schemas.DistributionPublic.model_validate(
        {**distribution.model_dump(), **_tracked(settings, distribution, path)}
    )


@router.get(
    "/datasets/{dataset_id}/distributions",
    tags=["distributions"],
    operation_id="list_distributions",
    response_model=schemas.DistributionsPublic,
    responses=READ_ERRORS,
)
def list_distributions(
    dataset_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Limit,
    cursor: Cursor = None,
) -> schemas.DistributionsPublic:
    dataset = service.get_dataset(session, principal, dataset_id)
    page = service.list_distributions(session, dataset, limit=limit, cursor=cursor)
    set_next_link(request, response, page.next_cursor)
    return schemas.DistributionsPublic(
        items=[distribution_public(settings, d) for d in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/datasets/{dataset_id}/distributions",
    tags=["distributions"],
    operation_id="create_distribution",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DistributionPublic,
    responses=WRITE_ERRORS,
)
def create_distribution(
    dataset_id: uuid.UUID,
    distribution_in: schemas.DistributionCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    dataset = service.get_dataset(session, principal, dataset_id)
    return created(
        request,
        session,
        principal,
        idempotency_key,
        distribution_in,
        lambda: distribution_public(
            settings, service.create_distribution(session, principal, dataset, distribution_in)
        ),
        lambda body: f"/api/v1/datasets/{dataset_id}/distributions/{body['id']}",
    )


@router.get(
    "/datasets/{dataset_id}/distributions/{distribution_id}",
    tags=["distributions"],
    operation_id="get_distribution",
    response_model=schemas.DistributionPublic,
    responses=READ_ERRORS,
)
def get_distribution(
    dataset_id: uuid.UUID,
    distribution_id: uuid.UUID,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> schemas.DistributionPublic:
    dataset = service.get_dataset(session, principal, dataset_id)
    distribution = service.get_distribution(session, dataset, distribution_id)
    with_etag(response, distribution)
    return distribution_public(settings, distribution)


@router.patch(
    "/datasets/{dataset_id}/distributions/{distribution_id}",
    tags=["distributions"],
    operation_id="update_distribution",
    response_model=schemas.DistributionPublic,
    responses=WRITE_ERRORS,
)
def update_distribution(
    dataset_id: uuid.UUID,
    distribution_id: uuid.UUID,
    distribution_in: schemas.DistributionUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: CatalogWriter,
    if_match: IfMatch = None,
) -> schemas.DistributionPublic:
    dataset = service.get_dataset(session, principal, dataset_id)
    distribution = service.get_distribution(session, dataset, distribution_id)
    distribution = lock_for_write(session, distribution, if_match)
    distribution = service.update_distribution(
        session, principal, dataset, distribution, distribution_in
    )
    with_etag(response, distribution)
    return distribution_public(settings, distribution)


@router.delete(
    "/datasets/{dataset_id}/distributions/{distribution_id}",
    tags=["distributions"],
    operation_id="delete_distribution",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
def delete_distribution(
    dataset_id: uuid.UUID,
    distribution_id: uuid.UUID,
    session: SessionDep,
    principal: CatalogWriter,
    if_match: IfMatch = None,
) -> None:
    dataset = service.get_dataset(session, principal, dataset_id)
    distribution = service.get_distribution(session, dataset, distribution_id)
    distribution = lock_for_write(session, distribution, if_match)
    service.delete_distribution(session, principal, dataset, distribution)

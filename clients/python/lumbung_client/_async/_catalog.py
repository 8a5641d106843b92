"""The catalog resources of :class:`~lumbung_client.AsyncClient`: ``client.publishers``,
``client.apps``, ``client.releases``, ``client.datasets``, ``client.distributions``.

Each has ``list``, ``get``, ``create``, ``update`` and ``delete``. Creates carry a fresh
``Idempotency-Key`` (pass your own to make a create safe across runs of your program);
updates and deletes send ``If-Match`` from the object you pass, or from ``if_match=``.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from lumbung_client._async._pagination import AsyncPager
from lumbung_client._async._transfer import download, file_chunks
from lumbung_client._backends import AsyncBackend
from lumbung_client._common import (
    AppRef,
    DatasetRef,
    DistributionRef,
    PublisherRef,
    ReleaseRef,
    as_uuid,
    create_headers,
    if_match_header,
    newest,
    object_id,
    page_params,
    parse,
    parse_page,
    payload,
    split_ref,
)
from lumbung_client._exceptions import Conflict, NotFound
from lumbung_client._models import (
    Adoption,
    App,
    AppCreate,
    AppUpdate,
    Dataset,
    DatasetCreate,
    DatasetUpdate,
    Distribution,
    DistributionCreate,
    DistributionUpdate,
    ImportReport,
    Page,
    Publisher,
    PublisherCreate,
    PublisherUpdate,
    Release,
    ReleaseCreate,
    ReleaseUpdate,
)
from lumbung_client._routes import ROUTES, PathParam
from lumbung_client._transfer import (
    NO_PROGRESS,
    Progress,
    PulledFile,
    PullResult,
    already_there,
    safe_name,
    sha256_of,
)

if TYPE_CHECKING:
    from lumbung_client._async._client import AsyncClient

__all__ = [
    "AsyncApps",
    "AsyncDatasets",
    "AsyncDistributions",
    "AsyncPublishers",
    "AsyncReleases",
]

M = TypeVar("M", bound=BaseModel)
Body = BaseModel | Mapping[str, Any] | None


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _get(self, route: str, model: type[M], **path: PathParam) -> M:
        response = await self._client._transport.request("GET", ROUTES[route].format(**path))
        return parse(model, response)

    def _pager(
        self,
        route: str,
        model: type[M],
        filters: Mapping[str, Any],
        limit: int | None,
        cursor: str | None = None,
        path: Callable[[], Awaitable[dict[str, PathParam]]] | None = None,
    ) -> AsyncPager[M]:
        # Path parameters (an app given as "publisher/slug") are looked up on the
        # first fetch: building a pager sends nothing (and is not a coroutine).
        url: str | None = None

        async def fetch(cursor: str | None) -> Page[M]:
            nonlocal url
            if url is None:
                url = ROUTES[route].format(**(await path() if path else {}))
            params = page_params(filters, limit, cursor)
            response = await self._client._transport.request("GET", url, params=params)
            return parse_page(model, response)

        return AsyncPager(fetch, cursor)

    async def _create(
        self, route: str, model: type[M], body: Any, idempotency_key: str | None, **path: PathParam
    ) -> M:
        response = await self._client._transport.request(
            "POST",
            ROUTES[route].format(**path),
            json_body=body,
            headers=create_headers(idempotency_key),
        )
        return parse(model, response)

    async def _update(
        self, route: str, model: type[M], body: Any, headers: dict[str, str], **path: PathParam
    ) -> M:
        response = await self._client._transport.request(
            "PATCH", ROUTES[route].format(**path), json_body=body, headers=headers
        )
        return parse(model, response)

    async def _delete(self, route: str, headers: dict[str, str], **path: PathParam) -> None:
        response = await self._client._transport.request(
            "DELETE", ROUTES[route].format(**path), headers=headers
        )
        await response.aclose()


class AsyncPublishers(_Resource):
    """Organisations hosted on the node (``/api/v1/publishers``)."""

    def list(
        self,
        *,
        q: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncPager[Publisher]:
        """Publishers, optionally matching text ``q`` or of one ``kind``."""
        return self._pager("publishers.list", Publisher, {"q": q, "kind": kind}, limit, cursor)

    async def get(self, publisher: PublisherRef) -> Publisher:
        """A publisher by id or code."""
        return await self._get("publishers.get", Publisher, publisher=_publisher_key(publisher))

    async def create(
        self, data: Body = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> Publisher:
        """Register a publisher (``admin`` scope). Fields: see :class:`PublisherCreate`."""
        body = payload(PublisherCreate, data, fields)
        return await self._create("publishers.create", Publisher, body, idempotency_key)

    async def update(
        self,
        publisher: PublisherRef,
        data: Body = None,
        /,
        *,
        if_match: str | None = None,
        **fields: Any,
    ) -> Publisher:
        """Change some fields of a publisher. Fields: see :class:`PublisherUpdate`."""
        body = payload(PublisherUpdate, data, fields)
        headers = if_match_header(publisher, if_match)
        return await self._update(
            "publishers.update", Publisher, body, headers, publisher=_publisher_key(publisher)
        )

    async def delete(self, publisher: PublisherRef, *, if_match: str | None = None) -> None:
        """Remove a publisher."""
        headers = if_match_header(publisher, if_match)
        await self._delete("publishers.delete", headers, publisher=_publisher_key(publisher))


def _publisher_key(publisher: PublisherRef) -> str:
    return str(publisher.id if isinstance(publisher, Publisher) else publisher)


class AsyncApps(_Resource):
    """Applications in the catalog (``/api/v1/apps``)."""

    def list(
        self,
        *,
        publisher: str | None = None,
        category: str | None = None,
        development_status: str | None = None,
        license: str | None = None,
        visibility: str | None = None,
        tag: str | None = None,
        platform: str | None = None,
        spbe_class: str | None = None,
        q: str | None = None,
        origin: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncPager[App]:
        """Apps the caller may see, filtered by any of the given fields.

        ``origin`` is ``"local"`` (this node's own), ``"peers"`` (mirrored from peers) or
        a peer's node id. Iterate the result for every app; ``.first_page()`` for one page.
        """
        filters = {
            "publisher": publisher,
            "category": category,
            "development_status": development_status,
            "license": license,
            "visibility": visibility,
            "tag": tag,
            "platform": platform,
            "spbe_class": spbe_class,
            "q": q,
            "origin": origin,
        }
        return self._pager("apps.list", App, filters, limit, cursor)

    async def get(self, app: AppRef) -> App:
        """An app by id or ``"publisher/slug"``."""
        if isinstance(app, App):
            app = app.id
        app_id = as_uuid(app)
        if app_id is not None:
            return await self._get("apps.get", App, app_id=app_id)
        publisher, slug = split_ref(str(app), "app")
        async for item in self.list(publisher=publisher):
            if item.slug == slug:
                return await self._get("apps.get", App, app_id=item.id)
        raise NotFound(404, title="Not found", detail=f"no app {app!r} visible to this client")

    async def id_of(self, app: AppRef) -> uuid.UUID:
        """The id of an app given as object, id or ``"publisher/slug"``."""
        if isinstance(app, App):
            return app.id
        return as_uuid(app) or (await self.get(app)).id

    async def create(
        self, data: Body = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> App:
        """Register an app. Fields: see :class:`AppCreate`; ``publisher`` defaults to yours."""
        body = payload(AppCreate, data, fields)
        return await self._create("apps.create", App, body, idempotency_key)

    async def update(
        self, app: AppRef, data: Body = None, /, *, if_match: str | None = None, **fields: Any
    ) -> App:
        """Change some fields of an app. Fields: see :class:`AppUpdate`."""
        body = payload(AppUpdate, data, fields)
        headers = if_match_header(app, if_match)
        return await self._update("apps.update", App, body, headers, app_id=await self.id_of(app))

    async def delete(self, app: AppRef, *, if_match: str | None = None) -> None:
        """Remove an app (it stays in the change feed as a tombstone)."""
        headers = if_match_header(app, if_match)
        await self._delete("apps.delete", headers, app_id=await self.id_of(app))

    async def import_publiccode(
        self,
        source: str | bytes | Path | None = None,
        *,
        url: str | None = None,
        publisher: str | None = None,
        strict: bool = False,
        visibility: str | None = None,
    ) -> ImportReport:
        """Create or update an app from its publiccode.yml: a file (path or bytes), or
        ``url=`` for the node to fetch. Importing the same ``url`` again updates that app,
        so the call is safe to repeat (and is retried). A file the node refuses raises
        :class:`~lumbung_client.ValidationFailed`, whose errors name each key path."""
        route = ROUTES["apps.import"]
        params = {
            "publisher": publisher,
            "strict": "true" if strict else None,
            "visibility": visibility,
        }
        if (source is None) == (url is None):
            raise ValueError("give a publiccode.yml (path or bytes) or url=, not both")
        if url is not None:
            response = await self._client._transport.request(
                route.method, route.format(), params=params, json_body={"url": url}, idempotent=True
            )
        else:
            data = source if isinstance(source, bytes) else await AsyncBackend.run_blocking(
                Path(str(source)).read_bytes
            )  # fmt: skip
            response = await self._client._transport.request(
                route.method,
                route.format(),
                params=params,
                body=lambda: data,
                headers={"Content-Type": "application/yaml"},
                idempotent=True,
            )
        return parse(ImportReport, response)

    async def export_publiccode(self, app: AppRef) -> str:
        """The app as a current publiccode.yml (text)."""
        route = ROUTES["apps.publiccode"]
        response = await self._client._transport.request(
            route.method, route.format(app_id=await self.id_of(app))
        )
        return response.text

    async def pull(
        self,
        app: AppRef,
        *,
        version: str | None = None,
        dest: str | Path = ".",
        adopt: bool = False,
        publisher: str | None = None,
        progress: Progress | None = None,
    ) -> PullResult:
        """Download a release's artifacts into ``dest`` and check each one.

        ``version`` defaults to the newest release. Each file is streamed to a temporary
        file, checked against the size and sha256 the release declares, and renamed into
        place; a file already there with the right sha256 is kept. Raises
        :class:`~lumbung_client.ArtifactMismatch` when a check fails (nothing is left
        behind). With ``adopt=True`` an adoption of this release is recorded once every
        file is in place, for your publisher (or ``publisher``, for the node admin).
        """
        target = await self.get(app) if not isinstance(app, App) else app
        releases = self._client.releases
        release = (
            await releases.get(target, version)
            if version is not None
            else await releases.latest(target)
        )
        directory = Path(dest)
        directory.mkdir(parents=True, exist_ok=True)
        node = await self._client._node_issuer()
        files: list[PulledFile] = []
        for artifact in release.artifacts:
            existing = await AsyncBackend.run_blocking(
                already_there, directory / safe_name(artifact.name), artifact
            )
            if existing is not None:
                files.append(existing)
                continue
            files.append(
                await download(
                    self._client._transport,
                    artifact,
                    directory,
                    node=node,
                    progress=progress or NO_PROGRESS,
                )
            )
        adoption = None
        if adopt:
            adoption = await self._adopt(target, release, publisher)
        return PullResult(release=release, files=files, adoption=adoption)

    async def _adopt(self, app: App, release: Release, publisher: str | None) -> Adoption:
        """Record the adoption, or move an existing one of this app to the new version,
        so pulling again (a re-run deployment) does not fail."""
        adoptions = self._client.adoptions
        try:
            return await adoptions.create(
                app_id=app.id, publisher=publisher, version=release.version, status="evaluating"
            )
        except Conflict:
            own = await self._client._own_publisher_id() if publisher is None else None
            if publisher is None and own is None:
                raise
            async for existing in adoptions.list(app=app.id, publisher=publisher):
                if publisher is not None or existing.publisher_id == own:
                    if existing.version == release.version:
                        return existing
                    return await adoptions.update(existing, version=release.version)
            raise


class AsyncReleases(_Resource):
    """Versions of an app and their artifacts (``/api/v1/apps/{id}/releases``)."""

    def list(
        self, app: AppRef, *, limit: int | None = None, cursor: str | None = None
    ) -> AsyncPager[Release]:
        """The releases of an app, oldest first."""

        async def path() -> dict[str, PathParam]:
            return {"app_id": await self._client.apps.id_of(app)}

        return self._pager("releases.list", Release, {}, limit, cursor, path)

    async def get(self, app: AppRef, release: ReleaseRef) -> Release:
        """A release of ``app`` by id or by version string."""
        app_id = await self._client.apps.id_of(app)
        if isinstance(release, Release):
            release = release.id
        release_id = as_uuid(release)
        if release_id is None:
            async for item in self.list(app_id):
                if item.version == release:
                    return item
            raise NotFound(404, title="Not found", detail=f"no release {release!r} of this app")
        return await self._get("releases.get", Release, app_id=app_id, release_id=release_id)

    async def latest(self, app: AppRef) -> Release:
        """The newest release of ``app`` (by release date, else creation)."""
        found = newest(await self.list(app).all())
        if found is None:
            raise NotFound(404, title="Not found", detail="this app has no releases")
        return found

    async def create(
        self,
        app: AppRef,
        data: Body = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Release:
        """Publish a release of ``app``. Fields: see :class:`ReleaseCreate`."""
        body = payload(ReleaseCreate, data, fields)
        app_id = await self._client.apps.id_of(app)
        return await self._create("releases.create", Release, body, idempotency_key, app_id=app_id)

    async def update(
        self,
        release: ReleaseRef,
        data: Body = None,
        /,
        *,
        app: AppRef | None = None,
        if_match: str | None = None,
        **fields: Any,
    ) -> Release:
        """Change some fields of a release. Give ``app`` unless ``release`` is the object."""
        body = payload(ReleaseUpdate, data, fields)
        app_id, release_id = await self._ids(release, app)
        headers = if_match_header(release, if_match)
        return await self._update(
            "releases.update", Release, body, headers, app_id=app_id, release_id=release_id
        )

    async def delete(
        self, release: ReleaseRef, *, app: AppRef | None = None, if_match: str | None = None
    ) -> None:
        """Withdraw a release. Give ``app`` unless ``release`` is the object."""
        app_id, release_id = await self._ids(release, app)
        headers = if_match_header(release, if_match)
        await self._delete("releases.delete", headers, app_id=app_id, release_id=release_id)

    async def upload(
        self,
        release: ReleaseRef,
        path: str | Path,
        *,
        app: AppRef | None = None,
        name: str | None = None,
        media_type: str | None = None,
        if_match: str | None = None,
        progress: Progress | None = None,
    ) -> Release:
        """Upload a file as an artifact of ``release`` and return the release listing it.

        The file's sha256 is sent along and checked by the node once the file has
        arrived; the node stores the file and serves it at the artifact's URL. A name
        the release already lists is a :class:`~lumbung_client.Conflict`. The upload is
        retried like a create, so a lost answer never stores it twice.
        """
        file = Path(path)
        artifact_name = safe_name(name or file.name)
        app_id, release_id = await self._ids(release, app)
        media = media_type or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        digest = await AsyncBackend.run_blocking(sha256_of, file)
        route = ROUTES["releases.upload"]
        bar = progress or NO_PROGRESS
        response = await self._client._transport.request(
            route.method,
            route.format(app_id=app_id, release_id=release_id),
            params={"name": artifact_name, "sha256": digest},
            body=file_chunks(file, artifact_name, bar),
            headers={
                "Content-Type": media,
                "Content-Length": str(file.stat().st_size),
                **create_headers(None),
                **({"If-Match": if_match} if if_match else {}),
            },
        )
        bar.finish(artifact_name)
        return parse(Release, response)

    async def _ids(self, release: ReleaseRef, app: AppRef | None) -> tuple[uuid.UUID, uuid.UUID]:
        if isinstance(release, Release):
            return release.app_id, release.id
        if app is None:
            raise ValueError("pass app= when the release is given by id or version")
        app_id = await self._client.apps.id_of(app)
        release_id = as_uuid(release)
        if release_id is None:
            release_id = (await self.get(app_id, release)).id
        return app_id, release_id


class AsyncDatasets(_Resource):
    """Datasets in the catalog (``/api/v1/datasets``)."""

    def list(
        self,
        *,
        publisher: str | None = None,
        theme: str | None = None,
        keyword: str | None = None,
        license: str | None = None,
        visibility: str | None = None,
        format: str | None = None,
        q: str | None = None,
        origin: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncPager[Dataset]:
        """Datasets the caller may see, filtered by any of the given fields (``origin``:
        ``"local"``, ``"peers"`` or a peer's node id)."""
        filters = {
            "publisher": publisher,
            "theme": theme,
            "keyword": keyword,
            "license": license,
            "visibility": visibility,
            "format": format,
            "q": q,
            "origin": origin,
        }
        return self._pager("datasets.list", Dataset, filters, limit, cursor)

    async def get(self, dataset: DatasetRef) -> Dataset:
        """A dataset by id or ``"publisher/slug"``."""
        if isinstance(dataset, Dataset):
            dataset = dataset.id
        dataset_id = as_uuid(dataset)
        if dataset_id is not None:
            return await self._get("datasets.get", Dataset, dataset_id=dataset_id)
        publisher, slug = split_ref(str(dataset), "dataset")
        async for item in self.list(publisher=publisher):
            if item.slug == slug:
                return await self._get("datasets.get", Dataset, dataset_id=item.id)
        raise NotFound(404, title="Not found", detail=f"no dataset {dataset!r} visible to you")

    async def id_of(self, dataset: DatasetRef) -> uuid.UUID:
        """The id of a dataset given as object, id or ``"publisher/slug"``."""
        if isinstance(dataset, Dataset):
            return dataset.id
        return as_uuid(dataset) or (await self.get(dataset)).id

    async def create(
        self, data: Body = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> Dataset:
        """Register a dataset. Fields: see :class:`DatasetCreate`."""
        body = payload(DatasetCreate, data, fields)
        return await self._create("datasets.create", Dataset, body, idempotency_key)

    async def update(
        self,
        dataset: DatasetRef,
        data: Body = None,
        /,
        *,
        if_match: str | None = None,
        **fields: Any,
    ) -> Dataset:
        """Change some fields of a dataset. Fields: see :class:`DatasetUpdate`."""
        body = payload(DatasetUpdate, data, fields)
        headers = if_match_header(dataset, if_match)
        return await self._update(
            "datasets.update", Dataset, body, headers, dataset_id=await self.id_of(dataset)
        )

    async def delete(self, dataset: DatasetRef, *, if_match: str | None = None) -> None:
        """Remove a dataset."""
        headers = if_match_header(dataset, if_match)
        await self._delete("datasets.delete", headers, dataset_id=await self.id_of(dataset))


class AsyncDistributions(_Resource):
    """Files and APIs of a dataset (``/api/v1/datasets/{id}/distributions``)."""

    def list(
        self, dataset: DatasetRef, *, limit: int | None = None, cursor: str | None = None
    ) -> AsyncPager[Distribution]:
        """The distributions of a dataset."""

        async def path() -> dict[str, PathParam]:
            return {"dataset_id": await self._client.datasets.id_of(dataset)}

        return self._pager("distributions.list", Distribution, {}, limit, cursor, path)

    async def get(self, dataset: DatasetRef, distribution: DistributionRef) -> Distribution:
        """One distribution of a dataset."""
        return await self._get(
            "distributions.get",
            Distribution,
            dataset_id=await self._client.datasets.id_of(dataset),
            distribution_id=object_id(distribution, "distribution"),
        )

    async def create(
        self,
        dataset: DatasetRef,
        data: Body = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Distribution:
        """Add a distribution to a dataset. Fields: see :class:`DistributionCreate`."""
        body = payload(DistributionCreate, data, fields)
        dataset_id = await self._client.datasets.id_of(dataset)
        return await self._create(
            "distributions.create", Distribution, body, idempotency_key, dataset_id=dataset_id
        )

    async def update(
        self,
        distribution: DistributionRef,
        data: Body = None,
        /,
        *,
        dataset: DatasetRef | None = None,
        if_match: str | None = None,
        **fields: Any,
    ) -> Distribution:
        """Change some fields of a distribution. Give ``dataset`` unless passing the object."""
        body = payload(DistributionUpdate, data, fields)
        dataset_id, distribution_id = await self._ids(distribution, dataset)
        headers = if_match_header(distribution, if_match)
        return await self._update(
            "distributions.update",
            Distribution,
            body,
            headers,
            dataset_id=dataset_id,
            distribution_id=distribution_id,
        )

    async def delete(
        self,
        distribution: DistributionRef,
        *,
        dataset: DatasetRef | None = None,
        if_match: str | None = None,
    ) -> None:
        """Remove a distribution. Give ``dataset`` unless passing the object."""
        dataset_id, distribution_id = await self._ids(distribution, dataset)
        headers = if_match_header(distribution, if_match)
        await self._delete(
            "distributions.delete",
            headers,
            dataset_id=dataset_id,
            distribution_id=distribution_id,
        )

    async def _ids(
        self, distribution: DistributionRef, dataset: DatasetRef | None
    ) -> tuple[uuid.UUID, uuid.UUID]:
        if isinstance(distribution, Distribution):
            return distribution.dataset_id, distribution.id
        if dataset is None:
            raise ValueError("pass dataset= when the distribution is given by id")
        return await self._client.datasets.id_of(dataset), object_id(distribution, "distribution")

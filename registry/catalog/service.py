"""The catalog's rules: who may create, change and see publishers, apps, releases,
datasets and distributions.

Services take a session and the caller, ``flush()`` and never commit: the request's
transaction commits (or rolls back) the whole unit of work. An item the caller may
not see is reported as not found, so its existence does not leak.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from registry.catalog import artifacts, schemas
from registry.catalog.access import can_see, visible_clause
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release
from registry.db import utcnow
from registry.errors import Conflict, Forbidden, NotFound, field_error, invalid
from registry.principal import Principal
from registry.querying import (
    PageOf,
    apply_changes,
    first_live,
    json_array_contains,
    live,
    paginate,
    text_match,
)


class MirrorReadOnly(Conflict):
    code, title = "read-only-mirror", "Read-only mirror"


def ensure_local(item: Publisher | App | Dataset) -> None:
    """Mirrors of a peer's items are changed on their origin only."""
    if item.origin is not None:
        raise MirrorReadOnly(
            f"this item is a read-only mirror; change it on its origin node {item.origin}"
        )


# --- publishers --------------------------------------------------------------------


def publisher_ref(publisher: Publisher) -> str:
    """A publisher's identity as one string: its code for this node's own publisher,
    ``code@node-id`` for a mirrored one. A peer may host a publisher with the same code
    as one of ours (or of another peer); the ref never confuses them. Every
    ``publisher`` filter accepts it, and publisher facets are keyed by it."""
    return ref_of(publisher.code, publisher.origin)


def ref_of(code: str, origin: str | None) -> str:
    """``publisher_ref`` of the publisher with this code and origin."""
    return code if origin is None else f"{code}@{origin}"


def parse_publisher_ref(ref: str) -> tuple[str, str | None]:
    """The code and node id a ``publisher_ref`` names; no node id for a bare code."""
    code, at, node_id = ref.partition("@")
    return code, node_id if at else None


def own_publisher(session: Session, code: str) -> Publisher | None:
    """This node's own live publisher with ``code``, if there is one."""
    return first_live(session, Publisher, Publisher.code == code, col(Publisher.origin).is_(None))


def get_publisher(session: Session, ref: str) -> Publisher:
    """A live publisher by id, by ref (``code@node-id``, see ``publisher_ref``) or by
    code. A bare code names this node's own publisher; failing that, a mirrored one
    only when a single peer hosts that code."""
    try:
        return _get_publisher(session, Publisher.id == uuid.UUID(ref), ref)
    except ValueError:
        pass
    code, node_id = parse_publisher_ref(ref)
    if node_id is not None:
        return _get_publisher(session, Publisher.code == code, ref, Publisher.origin == node_id)
    local = own_publisher(session, code)
    if local is not None:
        return local
    mirrors = session.exec(select(Publisher).where(live(Publisher), Publisher.code == code)).all()
    if len(mirrors) > 1:
        raise NotFound(
            f"several peers host a publisher {code!r}: name one by its id, or in a filter "
            f"as {', '.join(sorted(publisher_ref(p) for p in mirrors))}"
        )
    if not mirrors:
        raise NotFound(f"no publisher {ref!r}")
    return mirrors[0]


def _get_publisher(session: Session, condition: Any, ref: str, *where: Any) -> Publisher:
    publisher = first_live(session, Publisher, condition, *where)
    if publisher is None:
        raise NotFound(f"no publisher {ref!r}")
    return publisher


def list_publishers(
    session: Session, *, q: str | None, kind: str | None, limit: int, cursor: str | None
) -> PageOf[Publisher]:
    stmt = select(Publisher).where(live(Publisher))
    if kind:
        stmt = stmt.where(Publisher.kind == kind)
    if q:
        stmt = stmt.where(text_match(q, Publisher.code, Publisher.name, Publisher.region_code))
    return paginate(session, stmt, Publisher.id, limit, cursor)


def create_publisher(
    session: Session, publisher_in: schemas.PublisherCreate, *, demo: bool = False
) -> Publisher:
    if own_publisher(session, publisher_in.code):
        raise Conflict(
            f"a publisher with code {publisher_in.code!r} already exists",
            errors=[field_error(["body", "code"], "already taken")],
        )
    publisher = Publisher.model_validate(publisher_in, update={"demo": demo})
    session.add(publisher)
    session.flush()
    return publisher


def update_publisher(
    session: Session, publisher: Publisher, publisher_in: schemas.PublisherUpdate
) -> Publisher:
    ensure_local(publisher)
    apply_changes(publisher, publisher_in.model_dump(exclude_unset=True))
    session.flush()
    return publisher


def delete_publisher(session: Session, publisher: Publisher) -> None:
    ensure_local(publisher)
    for model in (App, Dataset):
        owned = first_live(session, model, model.publisher_id == publisher.id)
        if owned is not None:
            raise Conflict(
                f"publisher {publisher.code!r} still owns {model.__tablename__}; delete them first"
            )
    publisher.deleted_at = utcnow()
    session.flush()


def publisher_for_create(session: Session, principal: Principal, code: str | None) -> Publisher:
    """The owner of a new item: the publisher named, or else the caller's own."""
    if code is None:
        if principal.publisher_id is None:
            raise invalid(["body", "publisher"], "required: this client acts for no publisher")
        publisher = first_live(
            session,
            Publisher,
            Publisher.id == principal.publisher_id,
            col(Publisher.origin).is_(None),
        )
        if publisher is None:
            raise Forbidden("the caller's publisher no longer exists")
        return publisher
    publisher = own_publisher(session, code)
    if publisher is None:
        raise invalid(["body", "publisher"], f"no publisher {code!r} on this node")
    ensure_owner(principal, publisher.id)
    return publisher


def ensure_owner(principal: Principal, publisher_id: uuid.UUID) -> None:
    if not principal.acts_for(publisher_id):
        raise Forbidden("this item belongs to another publisher")


def ensure_may_change(principal: Principal, item: App | Dataset) -> None:
    """Before any write to an app or a dataset, or to its releases or distributions:
    the item is this node's own (409 for a mirror) and the caller's publisher's (403)."""
    ensure_local(item)
    ensure_owner(principal, item.publisher_id)


# --- apps --------------------------------------------------------------------------


# How ``q`` matches on the list endpoints: the search index's full-text match, which
# registry.search hands down at import (it sits above the catalog, which may not
# import it), so ``q`` finds on a list exactly what search finds. Without it (a tool
# that loads the catalog alone), a substring match.
TextSearch = Callable[[Session, Principal | None, str, Literal["app", "dataset"]], Any]
_text_search: list[TextSearch] = []


def use_text_search(matching_ids: TextSearch) -> None:
    """Make ``q`` on lists select ``id IN matching_ids(session, principal, q, kind)``."""
    _text_search[:] = [matching_ids]


def list_apps(
    session: Session,
    principal: Principal | None,
    filters: schemas.AppFilters,
    *,
    limit: int,
    cursor: str | None,
) -> PageOf[App]:
    return paginate(session, apps_query(session, principal, filters), App.id, limit, cursor)


def apps_query(
    session: Session, principal: Principal | None, filters: schemas.AppFilters
) -> SelectOfScalar[App]:
    """The live apps ``principal`` may see that match ``filters``, unordered."""
    stmt: SelectOfScalar[App] = select(App).where(live(App), visible_clause(App, principal))
    stmt = _where_publisher(session, stmt, App, filters.publisher)
    stmt = _where_origin(stmt, App, filters.origin)
    for column, value in (
        (App.development_status, filters.development_status),
        (App.license, filters.license),
        (App.visibility, filters.visibility),
        (App.spbe_class, filters.spbe_class),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    for array, element in (
        (App.categories, filters.category),
        (App.tags, filters.tag),
        (App.platforms, filters.platform),
        (App.raa_codes, filters.raa_code),
    ):
        if element is not None:
            stmt = stmt.where(json_array_contains(session, array, element))
    if filters.q and _text_search:
        stmt = stmt.where(col(App.id).in_(_text_search[0](session, principal, filters.q, "app")))
    elif filters.q:
        stmt = stmt.where(text_match(filters.q, App.name, App.slug, App.description, App.tags))
    return stmt


def get_app(session: Session, principal: Principal | None, app_id: uuid.UUID) -> App:
    return _get_visible(session, principal, App, app_id)


def create_app(session: Session, principal: Principal, app_in: schemas.AppCreate) -> App:
    publisher = publisher_for_create(session, principal, app_in.publisher)
    _ensure_slug_free(session, App, publisher, app_in.slug)
    app = App.model_validate(
        app_in.model_dump(exclude={"publisher"}, exclude_none=True, mode="json"),
        update={"publisher_id": publisher.id},
    )
    session.add(app)
    session.flush()
    return app


def update_app(session: Session, principal: Principal, app: App, app_in: schemas.AppUpdate) -> App:
    return _update_owned(session, principal, app, app_in)


def delete_app(session: Session, principal: Principal, app: App) -> None:
    releases = select(Release).where(Release.app_id == app.id, live(Release))
    _delete_owned(session, principal, app, releases)


# --- releases ----------------------------------------------------------------------


def list_releases(session: Session, app: App, *, limit: int, cursor: str | None) -> PageOf[Release]:
    stmt = select(Release).where(Release.app_id == app.id, live(Release))
    return paginate(session, stmt, Release.id, limit, cursor)


def get_release(session: Session, app: App, release_id: uuid.UUID) -> Release:
    release = first_live(session, Release, Release.id == release_id, Release.app_id == app.id)
    if release is None:
        raise NotFound(f"app {app.id} has no release {release_id}")
    return release


def create_release(
    session: Session, principal: Principal, app: App, release_in: schemas.ReleaseCreate
) -> Release:
    ensure_may_change(principal, app)
    _ensure_version_free(session, app, release_in.version)
    data = release_in.model_dump(mode="json", exclude_none=True)
    data["released_at"] = release_in.released_at or utcnow()
    release = Release.model_validate(data, update={"app_id": app.id})
    session.add(release)
    session.flush()
    return release


def update_release(
    session: Session,
    principal: Principal,
    app: App,
    release: Release,
    release_in: schemas.ReleaseUpdate,
) -> Release:
    ensure_may_change(principal, app)
    changes = release_in.model_dump(exclude_unset=True, mode="json")
    if changes.get("version") not in (None, release.version):
        _ensure_version_free(session, app, changes["version"])
    if "released_at" in changes:
        changes["released_at"] = release_in.released_at
    if changes.get("artifacts"):
        _keep_uploads_intact(release, changes["artifacts"])
    apply_changes(release, changes)
    session.flush()
    return release


def delete_release(session: Session, principal: Principal, app: App, release: Release) -> None:
    ensure_may_change(principal, app)
    release.deleted_at = utcnow()
    session.flush()


def ensure_artifact_name_free(release: Release, name: str) -> None:
    if artifacts.find(release.artifacts, name) is not None:
        raise Conflict(
            f"release {release.version!r} already has a file named {name!r}; to replace "
            "it, remove it from the release's artifacts (PATCH) and upload again",
            errors=[field_error(["query", "name"], f"{name!r} already exists")],
        )


def add_artifact(
    session: Session,
    principal: Principal,
    app: App,
    release: Release,
    artifact: schemas.Artifact,
) -> Release:
    """List an uploaded file in the release (locked with ``registry.http.lock_for_write``)."""
    ensure_may_change(principal, app)
    ensure_artifact_name_free(release, artifact.name)
    release.artifacts = [*release.artifacts, artifact.model_dump(mode="json")]
    session.flush()
    return release


def _keep_uploads_intact(release: Release, new: list[dict[str, Any]]) -> None:
    """An update may keep or drop the entries of files uploaded to this release, but
    not invent or alter one: the download URL serves the stored file its entry names."""
    prefix = artifacts.uploads_prefix(release.app_id, release.id)
    for index, artifact in enumerate(new):
        path = urlsplit(artifact["url"]).path
        if path.startswith(prefix) and artifact not in release.artifacts:
            raise invalid(
                ["body", "artifacts", index, "url"],
                "names a file uploaded to this release but differs from its entry; "
                "keep the entry as it is or upload the file again",
            )


# --- datasets ----------------------------------------------------------------------


def list_datasets(
    session: Session,
    principal: Principal | None,
    filters: schemas.DatasetFilters,
    *,
    limit: int,
    cursor: str | None,
) -> PageOf[Dataset]:
    stmt = datasets_query(session, principal, filters)
    return paginate(session, stmt, Dataset.id, limit, cursor)


def datasets_query(
    session: Session, principal: Principal | None, filters: schemas.DatasetFilters
) -> SelectOfScalar[Dataset]:
    """The live datasets ``principal`` may see that match ``filters``, unordered."""
    stmt: SelectOfScalar[Dataset] = select(Dataset).where(
        live(Dataset), visible_clause(Dataset, principal)
    )
    stmt = _where_publisher(session, stmt, Dataset, filters.publisher)
    stmt = _where_origin(stmt, Dataset, filters.origin)
    if filters.license is not None:
        stmt = stmt.where(Dataset.license == filters.license)
    if filters.visibility is not None:
        stmt = stmt.where(Dataset.visibility == filters.visibility)
    if filters.theme is not None:
        stmt = stmt.where(json_array_contains(session, Dataset.themes, filters.theme.upper()))
    if filters.keyword is not None:
        stmt = stmt.where(json_array_contains(session, Dataset.keywords, filters.keyword))
    if filters.format is not None:
        stmt = stmt.where(
            sa.exists().where(
                col(Distribution.dataset_id) == Dataset.id,
                live(Distribution),
                sa.func.upper(Distribution.format) == filters.format.upper(),
            )
        )
    if filters.q and _text_search:
        matching = _text_search[0](session, principal, filters.q, "dataset")
        stmt = stmt.where(col(Dataset.id).in_(matching))
    elif filters.q:
        stmt = stmt.where(
            text_match(
                filters.q, Dataset.slug, Dataset.title, Dataset.description, Dataset.keywords
            )
        )
    return stmt


def get_dataset(session: Session, principal: Principal | None, dataset_id: uuid.UUID) -> Dataset:
    return _get_visible(session, principal, Dataset, dataset_id)


def create_dataset(
    session: Session, principal: Principal, dataset_in: schemas.DatasetCreate
) -> Dataset:
    publisher = publisher_for_create(session, principal, dataset_in.publisher)
    _ensure_slug_free(session, Dataset, publisher, dataset_in.slug)
    dataset = Dataset.model_validate(
        dataset_in.model_dump(
            exclude={"publisher", "distributions"}, exclude_none=True, mode="json"
        ),
        update={"publisher_id": publisher.id},
    )
    session.add(dataset)
    session.flush()
    # In the caller's transaction: a failure leaves neither dataset nor distributions.
    for distribution_in in dataset_in.distributions or []:
        create_distribution(session, principal, dataset, distribution_in)
    return dataset


def update_dataset(
    session: Session, principal: Principal, dataset: Dataset, dataset_in: schemas.DatasetUpdate
) -> Dataset:
    return _update_owned(session, principal, dataset, dataset_in)


def delete_dataset(session: Session, principal: Principal, dataset: Dataset) -> None:
    distributions = select(Distribution).where(
        Distribution.dataset_id == dataset.id, live(Distribution)
    )
    _delete_owned(session, principal, dataset, distributions)


# --- distributions -----------------------------------------------------------------


def list_distributions(
    session: Session, dataset: Dataset, *, limit: int, cursor: str | None
) -> PageOf[Distribution]:
    stmt = select(Distribution).where(Distribution.dataset_id == dataset.id, live(Distribution))
    return paginate(session, stmt, Distribution.id, limit, cursor)


def get_distribution(
    session: Session, dataset: Dataset, distribution_id: uuid.UUID
) -> Distribution:
    distribution = first_live(
        session,
        Distribution,
        Distribution.id == distribution_id,
        Distribution.dataset_id == dataset.id,
    )
    if distribution is None:
        raise NotFound(f"dataset {dataset.id} has no distribution {distribution_id}")
    return distribution


def create_distribution(
    session: Session,
    principal: Principal,
    dataset: Dataset,
    distribution_in: schemas.DistributionCreate,
) -> Distribution:
    ensure_may_change(principal, dataset)
    distribution = Distribution.model_validate(
        distribution_in.model_dump(mode="json"), update={"dataset_id": dataset.id}
    )
    session.add(distribution)
    session.flush()
    return distribution


def update_distribution(
    session: Session,
    principal: Principal,
    dataset: Dataset,
    distribution: Distribution,
    distribution_in: schemas.DistributionUpdate,
) -> Distribution:
    ensure_may_change(principal, dataset)
    apply_changes(distribution, distribution_in.model_dump(exclude_unset=True, mode="json"))
    session.flush()
    return distribution


def delete_distribution(
    session: Session, principal: Principal, dataset: Dataset, distribution: Distribution
) -> None:
    ensure_may_change(principal, dataset)
    distribution.deleted_at = utcnow()
    session.flush()


# --- helpers -----------------------------------------------------------------------


def _where_publisher(
    session: Session, stmt: Any, model: type[App] | type[Dataset], ref: str | None
) -> Any:
    if ref is None:
        return stmt
    try:
        publisher_id = get_publisher(session, ref).id
    except NotFound:
        return stmt.where(sa.false())
    return stmt.where(model.publisher_id == publisher_id)


def _where_origin(stmt: Any, model: type[App] | type[Dataset], origin: str | None) -> Any:
    """``local``: this node's own items; ``peers``: every mirror; else a peer's node id."""
    if origin is None:
        return stmt
    column = col(model.origin)
    if origin == "local":
        return stmt.where(column.is_(None))
    if origin == "peers":
        return stmt.where(column.is_not(None))
    return stmt.where(column == origin.rstrip("/"))


Owned = TypeVar("Owned", App, Dataset)


def _get_visible(
    session: Session, principal: Principal | None, model: type[Owned], item_id: uuid.UUID
) -> Owned:
    """A live app or dataset ``principal`` may see; any other is not found, so that its
    existence does not leak."""
    item = first_live(session, model, model.id == item_id)
    if item is None or not can_see(item, principal, session):
        raise NotFound(f"no {model.__name__.lower()} {item_id}")
    return item


def _update_owned(
    session: Session,
    principal: Principal,
    item: Owned,
    item_in: schemas.AppUpdate | schemas.DatasetUpdate,
) -> Owned:
    ensure_may_change(principal, item)
    changes = item_in.model_dump(exclude_unset=True, mode="json")
    if changes.get("slug") not in (None, item.slug):
        _ensure_slug_free(session, type(item), _publisher_of(session, item), changes["slug"])
    apply_changes(item, changes)
    session.flush()
    return item


def _delete_owned(
    session: Session,
    principal: Principal,
    item: App | Dataset,
    children: SelectOfScalar[Release] | SelectOfScalar[Distribution],
) -> None:
    """Delete an app or a dataset with its live ``children``: they go with their
    parent, so the change feed tombstones them too."""
    ensure_may_change(principal, item)
    now = utcnow()
    item.deleted_at = now
    for child in session.exec(children):
        child.deleted_at = now
    session.flush()


def _publisher_of(session: Session, item: App | Dataset) -> Publisher:
    publisher = session.get(Publisher, item.publisher_id)
    assert publisher is not None  # a foreign key guarantees it
    return publisher


def _ensure_slug_free(
    session: Session, model: type[App] | type[Dataset], publisher: Publisher, slug: str
) -> None:
    # A local publisher's items are all local: saying so lets the partial unique
    # index (``live_unique``) answer, instead of reading every item of the publisher.
    taken = first_live(
        session,
        model,
        model.publisher_id == publisher.id,
        model.slug == slug,
        col(model.origin).is_(None),
    )
    if taken is not None:
        kind = "an app" if model is App else "a dataset"
        raise Conflict(
            f"{publisher.code} already has {kind} with slug {slug!r}",
            errors=[field_error(["body", "slug"], f"{slug!r} is already taken")],
        )


def _ensure_version_free(session: Session, app: App, version: str) -> None:
    if first_live(session, Release, Release.app_id == app.id, Release.version == version):
        raise Conflict(
            f"app {app.slug!r} already has a release {version!r}",
            errors=[field_error(["body", "version"], f"{version!r} already exists")],
        )

"""Harvesting CKAN portals: a publisher's datasets kept in step with its portal.

A run pages through ``package_search`` (a stable sort, at most 1000 rows a page),
asking only for packages changed since the last good run, except now and then
(the first run, and once a day) when it lists everything to find the packages that
were deleted or made private at the source. Each page is fetched with no
transaction open, then applied in one transaction of its own, with the run's
report; a crash loses at most the page in hand, and the next run picks it up again.
A database lease makes sure one process harvests a given source at a time.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx2
import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.background import PeriodicWorker
from registry.catalog import schemas
from registry.catalog import service as catalog
from registry.catalog.models import Dataset, Distribution, Publisher
from registry.db import Bind, session_scope, utcnow
from registry.errors import Conflict, LumbungError, NotFound, ValidationFailed, invalid
from registry.formats import ckan
from registry.formats.fetch import fetch, new_client
from registry.formats.models import HarvestRecord, HarvestRun, HarvestSource
from registry.netguard import check_url
from registry.principal import Principal
from registry.querying import apply_changes, first_live, live
from registry.settings import Settings

log = logging.getLogger(__name__)
OPERATOR = Principal(client_id="lumbung-harvester", scopes=frozenset({"admin"}))
LEASE = timedelta(minutes=10)
FULL_EVERY = timedelta(days=1)
PAGE_CAP = 32 * 1024 * 1024
MAX_ERRORS_KEPT = 500
_DISTRIBUTION_FIELDS = tuple(schemas.DistributionCreate.model_fields)
_DATASET_FIELDS = tuple(f for f in schemas.DatasetFields.model_fields if f != "visibility")


def lease_holder() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]


# --- sources -----------------------------------------------------------------------


def add_source(
    session: Session,
    *,
    publisher: str,
    ckan_url: str,
    organization: str | None = None,
    language: str = "id",
    interval: int = 3600,
) -> HarvestSource:
    owner = first_live(
        session, Publisher, Publisher.code == publisher, col(Publisher.origin).is_(None)
    )
    if owner is None:
        raise invalid(["publisher"], f"no publisher {publisher!r} on this node")
    parts = urlsplit(ckan_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(["ckan"], "must be the portal's http(s) base URL")
    if interval < 60:
        raise invalid(["interval"], "at least 60 seconds")
    base = ckan_url.rstrip("/")
    taken = session.exec(
        select(HarvestSource).where(
            HarvestSource.publisher_id == owner.id,
            HarvestSource.ckan_url == base,
            HarvestSource.organization == organization,
        )
    ).first()
    if taken is not None:
        raise Conflict(f"{publisher} already harvests {base} ({taken.id})")
    source = HarvestSource(
        publisher_id=owner.id,
        ckan_url=base,
        organization=organization,
        language=language,
        interval=interval,
    )
    session.add(source)
    session.flush()
    return source


def list_sources(session: Session) -> list[tuple[HarvestSource, str]]:
    rows = session.exec(
        select(HarvestSource, Publisher.code)
        .join(Publisher, col(Publisher.id) == HarvestSource.publisher_id)
        .order_by(col(HarvestSource.id))
    ).all()
    return [(source, code) for source, code in rows]


def due_sources(session: Session, now: datetime) -> list[uuid.UUID]:
    due = []
    for source in session.exec(select(HarvestSource).where(col(HarvestSource.enabled))):
        if source.lease_until is not None and source.lease_until > now:
            continue
        if (
            source.last_run_at is None
            or source.last_run_at + timedelta(seconds=source.interval) <= now
        ):
            due.append(source.id)
    return due


# --- a run -------------------------------------------------------------------------


@dataclass
class RunReport:
    source_id: uuid.UUID
    run_id: uuid.UUID | None = None
    full: bool = False
    status: str = "running"
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None

    def error(self, record: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append({"record": record, "error": message[:500]})

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_id": str(self.source_id),
            "run_id": str(self.run_id) if self.run_id else None,
            "full": self.full,
            "status": self.status,
            "seen": self.seen,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "errors": self.errors,
            "message": self.message,
        }


class SourceBusy(Conflict):
    code, title = "harvest-busy", "Harvest already running"


def run(
    bind: Bind,
    settings: Settings,
    source_id: uuid.UUID,
    *,
    holder: str | None = None,
    full: bool | None = None,
    rows: int = ckan.MAX_ROWS,
    client: httpx2.Client | None = None,
) -> RunReport:
    """Harvest one source now. Raises NotFound, or SourceBusy while another process
    holds its lease."""
    holder = holder or lease_holder()
    rows = max(1, min(rows, ckan.MAX_ROWS))
    report = RunReport(source_id)
    with session_scope(bind) as session:
        source = session.get(HarvestSource, source_id, with_for_update=True)
        if source is None:
            raise NotFound(f"no harvest source {source_id}")
        now = utcnow()
        if source.lease_until and source.lease_until > now and source.lease_holder != holder:
            raise SourceBusy(f"source {source_id} is being harvested by {source.lease_holder}")
        source.lease_holder, source.lease_until = holder, now + LEASE
        report.full = full if full is not None else _full_due(source, now)
        since = None if report.full else source.high_water
        run_row = HarvestRun(source_id=source.id, full=report.full)
        session.add_all([source, run_row])
        session.flush()
        report.run_id = run_row.id
        portal, organization = source.ckan_url, source.organization
        language, publisher_id = source.language, source.publisher_id
    seen_ids: set[str] = set()
    high_water = since
    own_client = client is None
    client = client or new_client(settings)
    try:
        start, pages, count = 0, 0, None
        while True:
            # Fetched with no transaction open.
            payload = _search(settings, client, portal, organization, since, start=start, rows=rows)
            count, results = ckan.search_page(payload)
            pages += 1
            packages = []
            for record in results:
                report.seen += 1
                try:
                    package = ckan.package(record, language=language, portal=portal)
                except ckan.RecordError as exc:
                    report.error(exc.record, exc.message)
                    continue
                if package.ckan_id in seen_ids:
                    continue  # offset paging repeats a record that moved; once is enough
                seen_ids.add(package.ckan_id)
                if package.metadata_modified and (
                    high_water is None or package.metadata_modified > high_water
                ):
                    high_water = package.metadata_modified
                packages.append(package)
            with session_scope(bind) as session:
                _renew_lease(session, source_id, holder)
                _apply_page(session, publisher_id, source_id, packages, report)
                _save_run(session, report)
            start += len(results)
            if not results or start >= count or pages > count // rows + 2:
                break
        if report.full:
            with session_scope(bind) as session:
                _delete_missing(session, source_id, seen_ids, report)
        report.status = "ok"
    except (LumbungError, ValueError, httpx2.HTTPError) as exc:
        report.status = "failed"
        detail = exc.detail if isinstance(exc, LumbungError) and exc.detail else str(exc)
        report.message = detail[:2000]
    finally:
        if own_client:
            client.close()
        with session_scope(bind) as session:
            _finish(session, source_id, holder, report, high_water)
    return report


def _full_due(source: HarvestSource, now: datetime) -> bool:
    return (
        source.high_water is None
        or source.last_full_at is None
        or source.last_full_at + FULL_EVERY <= now
    )


def _search(
    settings: Settings,
    client: httpx2.Client,
    portal: str,
    organization: str | None,
    since: str | None,
    *,
    start: int,
    rows: int,
) -> Any:
    filters = []
    if organization:
        filters.append(f'organization:"{organization}"')
    if since:
        # Solr's range over CKAN's own timestamps (UTC without a zone suffix).
        filters.append(f"metadata_modified:[{since.rstrip('Z')}Z TO *]")
    params = {
        "q": "*:*",
        # A total order: packages changed at the same instant are ordered by id.
        "sort": "metadata_modified asc, id asc",
        "rows": rows,
        "start": start,
    }
    if filters:
        params["fq"] = " AND ".join(filters)
    body = fetch(
        settings,
        f"{portal}/api/3/action/package_search",
        params=params,
        cap=PAGE_CAP,
        client=client,
    )
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ValueError(f"{portal}: package_search did not answer JSON") from exc


def _renew_lease(session: Session, source_id: uuid.UUID, holder: str) -> None:
    session.execute(
        sa.update(HarvestSource)
        .where(col(HarvestSource.id) == source_id, col(HarvestSource.lease_holder) == holder)
        .values(lease_until=utcnow() + LEASE)
    )


def _save_run(session: Session, report: RunReport) -> None:
    run_row = session.get(HarvestRun, report.run_id)
    if run_row is None:
        return
    for name in ("seen", "created", "updated", "unchanged", "deleted", "status", "message"):
        setattr(run_row, name, getattr(report, name))
    run_row.errors = list(report.errors)
    session.add(run_row)


def _finish(
    session: Session,
    source_id: uuid.UUID,
    holder: str,
    report: RunReport,
    high_water: str | None,
) -> None:
    now = utcnow()
    source = session.get(HarvestSource, source_id)
    if source is None:
        return
    source.last_run_at = now
    if report.status == "ok":
        source.last_success_at = now
        source.high_water = high_water
        source.last_error = None
        if report.full:
            source.last_full_at = now
    else:
        source.last_error = report.message
    if source.lease_holder == holder:
        source.lease_holder, source.lease_until = None, None
    session.add(source)
    _save_run(session, report)
    run_row = session.get(HarvestRun, report.run_id)
    if run_row is not None:
        run_row.finished_at = now
        session.add(run_row)


# --- applying a page ---------------------------------------------------------------


def _apply_page(
    session: Session,
    publisher_id: uuid.UUID,
    source_id: uuid.UUID,
    packages: list[ckan.Package],
    report: RunReport,
) -> None:
    """A page's packages in a few statements: what exists is read in bulk, the rows
    are changed in memory and written in one flush. Every value was validated when
    the package was mapped; should the database still refuse the page, it is applied
    again package by package, each in a savepoint, so only the culprit is reported."""
    counts = (report.created, report.updated, report.unchanged, report.deleted)
    errors = len(report.errors)
    try:
        with session.begin_nested():
            _apply_bulk(session, publisher_id, source_id, packages, report)
    except sa.exc.IntegrityError:
        report.created, report.updated, report.unchanged, report.deleted = counts
        del report.errors[errors:]
        session.expunge_all()
        for package in packages:
            _apply(session, publisher_id, source_id, package, report)
    session.expunge_all()  # this page's rows need not stay in memory for the next


def _apply_bulk(
    session: Session,
    publisher_id: uuid.UUID,
    source_id: uuid.UUID,
    packages: list[ckan.Package],
    report: RunReport,
) -> None:
    ids = [p.ckan_id for p in packages]
    records = {
        r.ckan_id: r
        for r in session.exec(
            select(HarvestRecord).where(
                HarvestRecord.source_id == source_id, col(HarvestRecord.ckan_id).in_(ids)
            )
        )
    }
    datasets = {
        d.id: d
        for d in session.exec(
            select(Dataset).where(col(Dataset.id).in_([r.dataset_id for r in records.values()]))
        )
    }
    distributions = {
        d.id: d
        for d in session.exec(
            select(Distribution).where(
                col(Distribution.id).in_(
                    [uuid.UUID(v) for r in records.values() for v in r.resources.values()]
                ),
                live(Distribution),
            )
        )
    }
    slugs: set[str] | None = None
    now = utcnow()
    gone_datasets: list[uuid.UUID] = []
    for package in packages:
        record = records.get(package.ckan_id)
        dataset = datasets.get(record.dataset_id) if record else None
        if dataset is not None and dataset.deleted_at is not None:
            dataset = None
        if not package.active:
            if dataset is not None:
                dataset.deleted_at = now
                gone_datasets.append(dataset.id)
                report.deleted += 1
            continue
        if (
            record is not None
            and dataset is not None
            and (record.metadata_modified == package.metadata_modified)
        ):
            report.unchanged += 1
            continue
        for problem in package.problems:
            report.error(package.ckan_id, problem)
        fields = dict(package.dataset)
        if dataset is None:
            if slugs is None:
                slugs = _live_slugs(session, publisher_id)
            fields["slug"] = _next_slug(slugs, fields["slug"])
            dataset = Dataset.model_validate(fields, update={"publisher_id": publisher_id})
            session.add(dataset)
        else:
            _update_dataset(dataset, fields)
        mapping = dict(record.resources) if record else {}
        kept: dict[str, Any] = {}
        for resource_id, values in package.resources:
            existing = distributions.get(uuid.UUID(mapping[resource_id])) if (
                resource_id in mapping
            ) else None  # fmt: skip
            if existing is not None and existing.dataset_id == dataset.id:
                apply_changes(existing, {n: values.get(n) for n in _DISTRIBUTION_FIELDS})
                kept[resource_id] = str(existing.id)
            else:
                created = Distribution.model_validate(values, update={"dataset_id": dataset.id})
                session.add(created)
                kept[resource_id] = str(created.id)
        for resource_id, distribution_id in mapping.items():
            gone = distributions.get(uuid.UUID(distribution_id))
            if resource_id not in kept and gone is not None:
                gone.deleted_at = now
        _keep_record(session, source_id, package, record, dataset.id, kept, report)
    if gone_datasets:
        for distribution in session.exec(
            select(Distribution).where(
                col(Distribution.dataset_id).in_(gone_datasets), live(Distribution)
            )
        ):
            distribution.deleted_at = now
    session.flush()


def _live_slugs(session: Session, publisher_id: uuid.UUID) -> set[str]:
    return set(
        session.exec(
            select(Dataset.slug).where(Dataset.publisher_id == publisher_id, live(Dataset))
        )
    )


def _next_slug(taken: set[str], base: str) -> str:
    base = base[:90].strip("-") or "dataset"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _update_dataset(dataset: Dataset, fields: dict[str, Any]) -> None:
    changes = {name: fields.get(name) for name in _DATASET_FIELDS if name != "slug"}
    changes["title"] = fields["title"]
    for name in ("description", "keywords", "themes"):
        changes[name] = fields.get(name) or ([] if name != "description" else {})
    apply_changes(dataset, changes)


# --- applying a package (when a page must be taken apart) --------------------------


def _apply(
    session: Session,
    publisher_id: uuid.UUID,
    source_id: uuid.UUID,
    package: ckan.Package,
    report: RunReport,
) -> None:
    record = session.exec(
        select(HarvestRecord).where(
            HarvestRecord.source_id == source_id, HarvestRecord.ckan_id == package.ckan_id
        )
    ).first()
    dataset = session.get(Dataset, record.dataset_id) if record else None
    if dataset is not None and dataset.deleted_at is not None:
        dataset = None
    if not package.active:
        if dataset is not None:
            _delete(session, dataset)
            report.deleted += 1
        return
    if (
        record is not None
        and dataset is not None
        and record.metadata_modified == package.metadata_modified
    ):
        report.unchanged += 1
        return
    for problem in package.problems:
        report.error(package.ckan_id, problem)
    try:
        with session.begin_nested():
            dataset = _upsert_dataset(session, publisher_id, package, dataset)
            mapping = _upsert_distributions(
                session, dataset, package, dict(record.resources) if record else {}
            )
    except (ValidationFailed, Conflict) as exc:
        report.error(package.ckan_id, str(exc.detail or exc))
        return
    _keep_record(session, source_id, package, record, dataset.id, mapping, report)
    session.flush()


def _keep_record(
    session: Session,
    source_id: uuid.UUID,
    package: ckan.Package,
    record: HarvestRecord | None,
    dataset_id: uuid.UUID,
    resources: dict[str, Any],
    report: RunReport,
) -> None:
    """Remember which dataset (and distributions) the package became, counting it as
    created when that is a new dataset and as updated otherwise."""
    if record is None:
        record = HarvestRecord(source_id=source_id, ckan_id=package.ckan_id, dataset_id=dataset_id)
        report.created += 1
    elif record.dataset_id != dataset_id:
        record.dataset_id = dataset_id
        report.created += 1
    else:
        report.updated += 1
    record.metadata_modified = package.metadata_modified
    record.resources = resources
    session.add(record)


def _upsert_dataset(
    session: Session, publisher_id: uuid.UUID, package: ckan.Package, dataset: Dataset | None
) -> Dataset:
    fields = dict(package.dataset)
    if dataset is None:
        publisher = session.get(Publisher, publisher_id)
        assert publisher is not None  # a foreign key guarantees it
        fields["slug"] = _free_slug(session, publisher_id, fields["slug"])
        return catalog.create_dataset(
            session, OPERATOR, schemas.DatasetCreate(publisher=publisher.code, **fields)
        )
    _update_dataset(dataset, fields)
    session.add(dataset)
    session.flush()
    return dataset


def _upsert_distributions(
    session: Session, dataset: Dataset, package: ckan.Package, mapping: dict[str, Any]
) -> dict[str, Any]:
    """Each resource updates the distribution it became before (stable ids), new ones
    are created, and those gone from the package are deleted."""
    kept: dict[str, Any] = {}
    for resource_id, fields in package.resources:
        existing = None
        if resource_id in mapping:
            existing = first_live(
                session, Distribution, Distribution.id == uuid.UUID(mapping[resource_id])
            )
        if existing is not None and existing.dataset_id == dataset.id:
            apply_changes(existing, {name: fields.get(name) for name in _DISTRIBUTION_FIELDS})
            session.add(existing)
            kept[resource_id] = str(existing.id)
        else:
            created = catalog.create_distribution(
                session, OPERATOR, dataset, schemas.DistributionCreate(**fields)
            )
            kept[resource_id] = str(created.id)
    gone = [uuid.UUID(v) for k, v in mapping.items() if k not in kept]
    if gone:
        now = utcnow()
        for distribution in session.exec(
            select(Distribution).where(col(Distribution.id).in_(gone), live(Distribution))
        ):
            distribution.deleted_at = now
            session.add(distribution)
    session.flush()
    return kept


def _free_slug(session: Session, publisher_id: uuid.UUID, base: str) -> str:
    base = base[:90].strip("-") or "dataset"
    slug, n = base, 1
    while first_live(session, Dataset, Dataset.publisher_id == publisher_id, Dataset.slug == slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _delete(session: Session, dataset: Dataset) -> None:
    catalog.delete_dataset(session, OPERATOR, dataset)


def _delete_missing(
    session: Session, source_id: uuid.UUID, seen: set[str], report: RunReport
) -> None:
    """After a full listing: datasets whose package is gone (deleted, or private and so
    no longer listed) are deleted here too."""
    records = session.exec(
        select(HarvestRecord, Dataset)
        .join(Dataset, col(Dataset.id) == HarvestRecord.dataset_id)
        .where(HarvestRecord.source_id == source_id, live(Dataset))
    ).all()
    for record, dataset in records:
        if record.ckan_id not in seen:
            _delete(session, dataset)
            report.deleted += 1


# --- the schedule ------------------------------------------------------------------


class HarvestWorker(PeriodicWorker):
    """Runs every due source each ``LUMBUNG_HARVEST_TICK`` seconds, in the background
    of ``lumbung serve``. Every process may run one; the lease keeps a source to one."""

    def __init__(self, bind: Bind, settings: Settings) -> None:
        super().__init__("lumbung-harvest", settings.harvest_tick)
        self.bind = bind
        self.settings = settings
        self.holder = lease_holder()

    def tick(self, on_report: Callable[[RunReport], None] | None = None) -> None:
        with session_scope(self.bind, write=False) as session:
            due = due_sources(session, utcnow())
        for source_id in due:
            if self.stopping:
                return
            try:
                report = run(self.bind, self.settings, source_id, holder=self.holder)
            except SourceBusy:
                continue
            if report.status != "ok":
                log.warning("harvest of %s failed: %s", source_id, report.message)
            if on_report is not None:
                on_report(report)


def check_portal(settings: Settings, url: str) -> None:
    """Refuse a portal this node may not reach (see ``registry.netguard``)."""
    check_url(url, settings.fetch_allow)

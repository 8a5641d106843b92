"""Pulling a peer's change feed into mirrors.

Per peer: take the lease, fetch a token when a partnership entitles this node to one,
page through the feed from the stored cursor, and apply each page together with the
new cursor in one transaction. Applying is idempotent (upserts by id, tombstones as
soft deletes), so a crash at any point resumes from the last committed cursor without
losing or doubling anything.

Every entry is checked before anything is written: its origin must be the peer, its
global id must lie under the peer's API, its fields must pass the catalog's validators,
and it may not touch a row that is local or belongs to another peer. One bad entry
refuses the whole page: the mirror stays as it was and the error is recorded.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx2
import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from registry.catalog.models import App, Dataset, Distribution, Publisher, Release, Visibility
from registry.db import Bind, session_scope, utcnow
from registry.federation import outbox, signing
from registry.federation.models import Peer
from registry.federation.schemas import DATA_MODELS, Entry, FeedPage
from registry.federation.transport import PAGE_CAP, PeerError, new_client, request_json
from registry.oauth.keys import KeyStore
from registry.settings import Settings
from registry.sharing import service as sharing
from registry.sharing.models import Adoption, Partnership

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000
LEASE_FOR = timedelta(seconds=120)
RETRIES = 3
BACKOFF_SECONDS = 1.0

MODELS: dict[str, Any] = {
    "publisher": Publisher,
    "app": App,
    "dataset": Dataset,
    "release": Release,
    "distribution": Distribution,
    "adoption": Adoption,
}
MIRROR_MODELS = tuple(MODELS.values())
# The parent each kind refers to, which must already be mirrored from the same peer.
PARENTS = {
    "app": ("publisher_id", "publisher"),
    "dataset": ("publisher_id", "publisher"),
    "release": ("app_id", "app"),
    "distribution": ("dataset_id", "dataset"),
    "adoption": ("app_id", "app"),
}
CHILDREN = {"app": [("release", "app_id"), ("adoption", "app_id")],
            "dataset": [("distribution", "dataset_id")]}  # fmt: skip


class SyncError(Exception):
    """The sync of a peer stopped; the message says why."""


class LeaseBusy(SyncError):
    pass


@dataclass
class SyncResult:
    node_id: str
    pages: int = 0
    upserts: int = 0
    deletes: int = 0
    items: int = 0
    error: str | None = None
    mode: str = "anonymous"


@dataclass
class Progress:
    """Callbacks for a progress display: told the estimated total and each page."""

    start: Callable[[str, int], None] = lambda node, total: None
    advance: Callable[[int, int], None] = lambda done, remaining: None
    extra: dict[str, Any] = field(default_factory=dict)


def lease_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- lease ---------------------------------------------------------------------------


def take_lease(bind: Bind, node_id: str, holder: str) -> bool:
    """Atomically take (or renew) the peer's lease; False if another holds it."""
    now = utcnow()
    with session_scope(bind) as session:
        result = session.execute(
            sa.update(Peer)
            .where(
                col(Peer.node_id) == node_id,
                sa.or_(
                    col(Peer.lease_holder).is_(None),
                    col(Peer.lease_expires_at) < now,
                    col(Peer.lease_holder) == holder,
                ),
            )
            .values(lease_holder=holder, lease_expires_at=now + LEASE_FOR)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def release_lease(bind: Bind, node_id: str, holder: str) -> None:
    with session_scope(bind) as session:
        session.execute(
            sa.update(Peer)
            .where(col(Peer.node_id) == node_id, col(Peer.lease_holder) == holder)
            .values(lease_holder=None, lease_expires_at=None)
        )


# --- the run -------------------------------------------------------------------------


def sync_peer(
    bind: Bind,
    settings: Settings,
    keys: KeyStore,
    node_id: str,
    *,
    progress: Progress | None = None,
    holder: str | None = None,
) -> SyncResult:
    """Bring the mirror of one peer up to date. Errors are recorded on the peer and
    returned in the result; ``LeaseBusy`` is raised when another process syncs it."""
    holder = holder or lease_holder()
    if not take_lease(bind, node_id, holder):
        raise LeaseBusy(f"{node_id} is being synced by another process")
    result = SyncResult(node_id)
    try:
        with session_scope(bind) as session:
            if sharing.any_due(session):
                sharing.expire_due(session)
            peer = _peer(session, node_id)
            peer.last_attempt_at = utcnow()
            peer.sync_requested_at = None
            session.add(peer)
        outbox.drain(bind, settings, keys, node_id)
        _pull(bind, settings, keys, node_id, holder, result, progress or Progress())
    except SyncError as exc:
        result.error = str(exc)
    except Exception as exc:  # a bug must not kill the worker; it is recorded instead
        log.exception("sync of %s failed", node_id)
        result.error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        with session_scope(bind) as session:
            peer = _peer(session, node_id)
            if result.error is None:
                peer.last_success_at = utcnow()
                peer.last_error = None
                peer.remaining = 0
            else:
                peer.last_error = result.error[:4000]
                peer.last_error_at = utcnow()
            peer.items = _count_items(session, node_id)
            result.items = peer.items
            session.add(peer)
        release_lease(bind, node_id, holder)
    return result


def _peer(session: Session, node_id: str) -> Peer:
    peer = session.exec(select(Peer).where(Peer.node_id == node_id)).first()
    if peer is None:
        raise SyncError(f"{node_id} is not a peer of this node")
    return peer


def _count_items(session: Session, node_id: str) -> int:
    total = 0
    for model in MIRROR_MODELS:
        table = model.__table__
        total += session.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.origin == node_id, table.c.deleted_at.is_(None))
        ).scalar_one()
    return int(total)


def _pull(
    bind: Bind,
    settings: Settings,
    keys: KeyStore,
    node_id: str,
    holder: str,
    result: SyncResult,
    progress: Progress,
) -> None:
    with session_scope(bind, write=False) as session:
        peer = _peer(session, node_id)
        entitled = _entitled(session, node_id)
        cursor, mode, feed_url = peer.cursor, peer.feed_mode, peer.feed_url
        token_endpoint = peer.token_endpoint
        client_id = peer.client_id or sharing.peer_client_id(settings.issuer)
    with new_client() as client:
        token = None
        if entitled:
            token = _fetch_token(client, keys, client_id, node_id, token_endpoint)
        if token is not None and mode != "token":
            # A wider view than before: items this node may now see can lie before the
            # cursor, so read the whole feed again.
            cursor, mode = "0", "token"
            _set_view(bind, node_id, cursor, mode, purge=False)
        elif token is None and mode != "anonymous":
            # A narrower view: drop what only the partnership showed; public items
            # look the same from both views, so the cursor stays.
            mode = "anonymous"
            _set_view(bind, node_id, cursor, mode, purge=True)
        result.mode = mode
        started = False
        done = 0
        # The next page is fetched while this one is applied: the peer builds it and
        # this node writes the previous one at the same time.
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            pending = prefetch.submit(_fetch_page, client, feed_url, cursor, token, node_id)
            while True:
                page = pending.result()
                if page.has_more:
                    if page.next_cursor == cursor:
                        raise SyncError(f"{node_id}: the feed did not move past cursor {cursor}")
                    pending = prefetch.submit(
                        _fetch_page, client, feed_url, page.next_cursor, token, node_id
                    )
                if not started:
                    progress.start(node_id, len(page.entries) + page.remaining)
                    started = True
                counts = apply_page(bind, settings, node_id, page, holder)
                result.pages += 1
                result.upserts += counts[0]
                result.deletes += counts[1]
                done += len(page.entries)
                progress.advance(done, page.remaining)
                if not page.has_more:
                    break
                cursor = page.next_cursor


def _entitled(session: Session, node_id: str) -> bool:
    from registry.sharing.visibility import active_partnership_clause

    found = session.exec(
        select(Partnership.id).where(
            Partnership.peer_node_id == node_id, active_partnership_clause()
        )
    ).first()
    return found is not None


def _set_view(bind: Bind, node_id: str, cursor: str, mode: str, *, purge: bool) -> None:
    with session_scope(bind) as session:
        peer = _peer(session, node_id)
        peer.cursor, peer.feed_mode = cursor, mode
        session.add(peer)
        if purge:
            now = utcnow()
            for model in MIRROR_MODELS:
                table = model.__table__
                session.execute(
                    sa.update(table)
                    .where(
                        table.c.origin == node_id,
                        table.c.audience.is_not(None),
                        table.c.deleted_at.is_(None),
                    )
                    .values(deleted_at=now)
                )


def _fetch_token(
    client: httpx2.Client, keys: KeyStore, client_id: str, node_id: str, token_endpoint: str
) -> str | None:
    """An access token from the peer, or None when it refuses this node one."""
    for attempt in range(RETRIES):
        assertion = signing.client_assertion(keys, client_id=client_id, audience=node_id)
        try:
            _, payload = request_json(
                client,
                "POST",
                token_endpoint,
                data={
                    "grant_type": "client_credentials",
                    "scope": "federation:read",
                    "client_assertion_type": signing.ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
            )
        except PeerError as exc:
            if exc.status in (400, 401, 403):
                log.info("%s refuses this node a token: %s", node_id, exc)
                return None
            if not exc.retry or attempt == RETRIES - 1:
                raise SyncError(f"cannot get a token from {node_id}: {exc}") from exc
            time.sleep(BACKOFF_SECONDS * 2**attempt)
            continue
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise SyncError(f"{node_id}: the token response holds no access_token")
        return str(payload["access_token"])
    return None  # pragma: no cover


def _fetch_page(
    client: httpx2.Client, feed_url: str, cursor: str, token: str | None, node_id: str
) -> FeedPage:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    for attempt in range(RETRIES):
        try:
            _, payload = request_json(
                client,
                "GET",
                feed_url,
                params={"after": cursor, "limit": PAGE_LIMIT},
                headers=headers,
                cap=PAGE_CAP,
            )
            break
        except PeerError as exc:
            if not exc.retry or attempt == RETRIES - 1:
                raise SyncError(f"reading the feed of {node_id} failed: {exc}") from exc
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    try:
        page = FeedPage.model_validate(payload)
    except ValidationError as exc:
        raise SyncError(f"{node_id}: the feed page is not valid: {_first(exc)}") from exc
    if page.origin != node_id:
        raise SyncError(f"{node_id}: the feed page claims to come from {page.origin}")
    return page


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"


# --- applying a page -----------------------------------------------------------------


def expected_global_id(node_id: str, entry: Entry, data: Any) -> str | None:
    base = f"{node_id}/api/v1"
    if entry.kind == "release":
        return f"{base}/apps/{data.app_id}/releases/{entry.id}" if data else None
    if entry.kind == "distribution":
        return f"{base}/datasets/{data.dataset_id}/distributions/{entry.id}" if data else None
    return f"{base}/{entry.kind}s/{entry.id}"


def _validated(node_id: str, page: FeedPage) -> list[tuple[Entry, Any]]:
    checked = []
    for n, entry in enumerate(page.entries):
        where = f"entry {n} ({entry.kind} {entry.id})"
        if entry.origin != node_id:
            raise SyncError(f"{where} claims origin {entry.origin}, not {node_id}; page refused")
        data = None
        if entry.op == "upsert":
            if entry.data is None:
                raise SyncError(f"{where}: an upsert without data; page refused")
            try:
                data = DATA_MODELS[entry.kind].model_validate(entry.data)
            except ValidationError as exc:
                raise SyncError(f"{where}: {_first(exc)}; page refused") from exc
        expected = expected_global_id(node_id, entry, data)
        prefix = f"{node_id}/api/v1/"
        if not entry.global_id.startswith(prefix) or (
            expected is not None and entry.global_id != expected
        ):
            raise SyncError(f"{where}: global id {entry.global_id} is not on {node_id}; refused")
        checked.append((entry, data))
    return checked


def apply_page(
    bind: Bind, settings: Settings, node_id: str, page: FeedPage, holder: str
) -> tuple[int, int]:
    """Apply one page and move the cursor, in one transaction."""
    checked = _validated(node_id, page)
    upserts = deletes = 0
    with session_scope(bind) as session:
        peer = _peer(session, node_id)
        if peer.lease_holder != holder:
            raise SyncError(f"lost the lease on {node_id}")
        local_publishers: dict[str, uuid.UUID] = dict(
            session.execute(
                sa.select(Publisher.__table__.c.code, Publisher.__table__.c.id).where(  # type: ignore[attr-defined]
                    Publisher.__table__.c.origin.is_(None),  # type: ignore[attr-defined]
                    Publisher.__table__.c.deleted_at.is_(None),  # type: ignore[attr-defined]
                )
            ).all()
        )
        by_kind: dict[str, list[tuple[Entry, Any]]] = {kind: [] for kind in MODELS}
        for entry, data in checked:
            by_kind[entry.kind].append((entry, data))
        for kind, model in MODELS.items():
            items = by_kind[kind]
            if items:
                u, d = _apply_kind(session, settings, node_id, kind, model, items, local_publishers)
                upserts += u
                deletes += d
        peer.cursor = page.next_cursor
        peer.remaining = page.remaining
        peer.lease_expires_at = utcnow() + LEASE_FOR
        session.add(peer)
    return upserts, deletes


def _apply_kind(
    session: Session,
    settings: Settings,
    node_id: str,
    kind: str,
    model: Any,
    items: list[tuple[Entry, Any]],
    local_publishers: dict[str, uuid.UUID],
) -> tuple[int, int]:
    table: sa.Table = model.__table__
    ids = [entry.id for entry, _ in items]
    existing: dict[uuid.UUID, tuple[str | None, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        extra = table.c.publisher_id if kind == "adoption" else sa.null()
        for row_id, origin, publisher_id in session.execute(
            sa.select(table.c.id, table.c.origin, extra).where(table.c.id.in_(chunk))
        ):
            existing[row_id] = (origin, publisher_id)

    parents_needed: dict[uuid.UUID, str] = {}
    if kind in PARENTS:
        column, parent_kind = PARENTS[kind]
        for _entry, data in items:
            if data is not None:
                parents_needed[getattr(data, column)] = parent_kind
    _check_parents(session, node_id, parents_needed)

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    tombstones: list[uuid.UUID] = []
    for entry, data in items:
        found = existing.get(entry.id)
        if found is not None and found[0] != node_id:
            if kind == "adoption" and found[0] is None and found[1] is not None:
                continue  # our own publisher's adoption, fed back by the app's origin
            raise SyncError(
                f"{kind} {entry.id} is held here by {found[0] or 'this node'}; "
                f"{node_id} may not change it; page refused"
            )
        if entry.op == "delete":
            if found is not None:
                tombstones.append(entry.id)
            continue
        values = _row_values(settings, node_id, kind, entry, data, local_publishers)
        if found is None:
            inserts.append(values)
            existing[entry.id] = (node_id, None)
        else:
            updates.append(values)
    if updates:
        keys = [k for k in updates[0] if k != "id"]
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("_id"))
            .values({k: sa.bindparam(k) for k in keys}),
            [{"_id": v["id"], **{k: v[k] for k in keys}} for v in updates],
        )
    if inserts:
        session.execute(sa.insert(table), inserts)
    if tombstones:
        now = utcnow()
        session.execute(
            sa.update(table)
            .where(table.c.id.in_(tombstones), table.c.origin == node_id)
            .values(deleted_at=now)
        )
        # A hidden parent hides its children at once, whatever the feed sends next.
        for child_kind, column in CHILDREN.get(kind, []):
            child = MODELS[child_kind].__table__
            session.execute(
                sa.update(child)
                .where(
                    child.c[column].in_(tombstones),
                    child.c.origin == node_id,
                    child.c.deleted_at.is_(None),
                )
                .values(deleted_at=now)
            )
    return len(inserts) + len(updates), len(tombstones)


def _check_parents(session: Session, node_id: str, needed: dict[uuid.UUID, str]) -> None:
    by_kind: dict[str, list[uuid.UUID]] = {}
    for parent_id, parent_kind in needed.items():
        by_kind.setdefault(parent_kind, []).append(parent_id)
    for parent_kind, parent_ids in by_kind.items():
        table = MODELS[parent_kind].__table__
        found: set[uuid.UUID] = set()
        for start in range(0, len(parent_ids), 500):
            chunk = parent_ids[start : start + 500]
            found.update(
                session.execute(
                    sa.select(table.c.id).where(table.c.id.in_(chunk), table.c.origin == node_id)
                ).scalars()
            )
        missing = [p for p in parent_ids if p not in found]
        if missing:
            raise SyncError(
                f"{node_id} sent items of a {parent_kind} it never sent ({missing[0]}); "
                "page refused"
            )


_TYPED = (
    "created_at",
    "updated_at",
    "released_at",
    "started_on",
    "ended_on",
    "publisher_id",
    "app_id",
    "dataset_id",
)


def _row_values(
    settings: Settings,
    node_id: str,
    kind: str,
    entry: Entry,
    data: Any,
    local_publishers: dict[str, uuid.UUID],
) -> dict[str, Any]:
    values: dict[str, Any] = data.model_dump(mode="json")
    # JSON columns take the JSON form; typed columns take Python values.
    for name in _TYPED:
        if name in values:
            values[name] = getattr(data, name)
    if kind == "adoption":
        values["adopter_node"] = values.get("adopter_node") or node_id
        values["publisher_id"] = None
        values["delivered_at"] = None
    audience = None
    if entry.audience is not None:
        audience = sorted(str(local_publishers[c]) for c in entry.audience if c in local_publishers)
    if kind in ("app", "dataset"):
        values["visibility"] = Visibility(values["visibility"]).value
        if values["visibility"] == Visibility.partners.value and audience is None:
            audience = []
    values.update(
        id=entry.id,
        origin=node_id,
        audience=audience,
        change_seq=0,
        deleted_at=None,
    )
    return values


# --- all peers -----------------------------------------------------------------------


def sync_all(
    bind: Bind, settings: Settings, keys: KeyStore, *, due_only: bool = False
) -> list[SyncResult]:
    with session_scope(bind, write=False) as session:
        peers = list(session.exec(select(Peer).order_by(col(Peer.node_id))).all())
    results = []
    now = utcnow()
    for peer in peers:
        if due_only and not _due(peer, settings, now):
            continue
        try:
            results.append(sync_peer(bind, settings, keys, peer.node_id))
        except LeaseBusy:
            continue
    return results


def _due(peer: Peer, settings: Settings, now: Any) -> bool:
    if peer.sync_requested_at is not None:
        return True
    if peer.last_attempt_at is None:
        return True
    return bool(now - peer.last_attempt_at >= timedelta(seconds=settings.sync_interval))

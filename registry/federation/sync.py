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

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, lru_cache
from typing import Any

import httpx2
import orjson
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from registry import indexing
from registry.catalog.models import App, Dataset, Distribution, Publisher, Release, Visibility
from registry.db import Bind, session_scope, transaction, utcnow
from registry.federation import outbox, signing
from registry.federation.models import Peer
from registry.federation.schemas import DATA_MODELS, CheckedPage
from registry.federation.transport import (
    PAGE_CAP,
    PeerError,
    check_status,
    new_client,
    request_bytes,
    request_json,
)
from registry.oauth.keys import KeyStore
from registry.settings import Settings
from registry.sharing import service as sharing
from registry.sharing.models import Adoption
from registry.sharing.visibility import partnerships_with

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
PEERS: sa.Table = Peer.__table__  # type: ignore[attr-defined]
PUBLISHERS: sa.Table = Publisher.__table__  # type: ignore[attr-defined]


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
    # The run read the feed from its beginning.
    from_start: bool = False


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
    with _sync_connection(bind) as connection:
        if not take_lease(connection, node_id, holder):
            raise LeaseBusy(f"{node_id} is being synced by another process")
        result = SyncResult(node_id)
        try:
            with session_scope(connection) as session:
                if sharing.any_due(session):
                    sharing.expire_due(session)
                peer = _peer(session, node_id)
                peer.last_attempt_at = utcnow()
                peer.sync_requested_at = None
                session.add(peer)
            outbox.drain(connection, settings, keys, node_id)
            _pull(connection, settings, keys, node_id, holder, result, progress or Progress())
        except SyncError as exc:
            result.error = str(exc)
        except Exception as exc:  # a bug must not kill the worker; it is recorded instead
            log.exception("sync of %s failed", node_id)
            result.error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            with session_scope(connection) as session:
                peer = _peer(session, node_id)
                if result.error is None:
                    peer.last_success_at = utcnow()
                    peer.last_error = None
                    peer.remaining = 0
                else:
                    peer.last_error = result.error[:4000]
                    peer.last_error_at = utcnow()
                if result.from_start:
                    # Each page keeps the count as it goes; a pull of the whole feed
                    # also counts afresh, so the figure can never drift for long.
                    peer.items = _count_items(session, node_id)
                result.items = peer.items
                session.add(peer)
            release_lease(connection, node_id, holder)
    return result


# For the connection of a sync run on SQLite (see ``_sync_connection``).
_PRAGMAS = {
    # In WAL mode, NORMAL makes a commit durable against a crash of this process
    # (what the crash-safety guarantee is about) without an fsync per page; a power
    # cut may lose the last pages, and with them, in the same transactions, the
    # cursor that would have skipped them, so the next run fetches them again.
    "synchronous": "NORMAL",
}


@contextmanager
def _sync_connection(bind: Bind) -> Iterator[sa.Connection]:
    """One connection for a whole run: each page is still its own transaction, but
    the run does not pay for opening (and, on SQLite, checkpointing) a connection per
    unit of work."""
    if isinstance(bind, sa.Connection):
        yield bind
        return
    with bind.connect() as connection:
        if connection.dialect.name != "sqlite":
            yield connection
            return
        # Pragmas go to the driver's connection: outside any transaction, which
        # SQLAlchemy would otherwise begin first.
        raw = connection.connection.driver_connection
        assert raw is not None
        before = [raw.execute(f"PRAGMA {name}").fetchone()[0] for name in _PRAGMAS]
        for name, value in _PRAGMAS.items():
            raw.execute(f"PRAGMA {name}={value}")
        try:
            yield connection
        finally:
            if not connection.invalidated and not connection.in_transaction():
                for name, value in zip(_PRAGMAS, before, strict=True):
                    raw.execute(f"PRAGMA {name}={int(value)}")


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
    connection: sa.Connection,
    settings: Settings,
    keys: KeyStore,
    node_id: str,
    holder: str,
    result: SyncResult,
    progress: Progress,
) -> None:
    with session_scope(connection, write=False) as session:
        peer = _peer(session, node_id)
        entitled = _entitled(session, node_id)
        cursor, mode, feed_url = peer.cursor, peer.feed_mode, peer.feed_url
        token_endpoint = peer.token_endpoint
        client_id = peer.client_id or sharing.peer_client_id(settings.issuer)
    with new_client() as client:

        def new_token(*, renew: bool = False) -> str | None:
            return _token(client, keys, client_id, node_id, token_endpoint, renew=renew)

        token = new_token() if entitled else None
        if token is not None and mode != "token":
            # A wider view than before: items this node may now see can lie before the
            # cursor, so read the whole feed again.
            cursor, mode = "0", "token"
            _set_view(connection, node_id, cursor, mode, purge=False)
        elif token is None and mode != "anonymous":
            # A narrower view: drop what only the partnership showed; public items
            # look the same from both views, so the cursor stays.
            mode = "anonymous"
            _set_view(connection, node_id, cursor, mode, purge=True)
        result.mode = mode
        result.from_start = cursor == "0"
        started = False
        done = 0
        # The next page is fetched (and checked) while this one is applied: the peer
        # builds it and this node writes the previous one at the same time.
        with ThreadPoolExecutor(max_workers=1) as prefetch:

            def fetch(after: str) -> Future[CheckedPage]:
                return prefetch.submit(_fetch_page, client, feed_url, after, token, node_id)

            asked = cursor
            pending = fetch(asked)
            renewed = False
            while True:
                try:
                    page = pending.result()
                except TokenRejected:
                    # A token from an earlier run may have been revoked or outlived
                    # the peer's keys: get a fresh one, once, and ask again.
                    if renewed:
                        raise
                    token = new_token(renew=True)
                    if token is None:
                        raise SyncError(f"{node_id} no longer grants this node a token") from None
                    renewed = True
                    pending = fetch(asked)
                    continue
                renewed = False
                if page.has_more:
                    if page.next_cursor == asked:
                        raise SyncError(f"{node_id}: the feed did not move past cursor {asked}")
                    asked = page.next_cursor
                    pending = fetch(asked)
                if not started:
                    progress.start(node_id, len(page.entries) + page.remaining)
                    started = True
                counts = apply_page(connection, settings, node_id, page, holder)
                result.pages += 1
                result.upserts += counts[0]
                result.deletes += counts[1]
                done += len(page.entries)
                progress.advance(done, page.remaining)
                if not page.has_more:
                    break


def _entitled(session: Session, node_id: str) -> bool:
    """Whether a partnership in force lets this node read more than the peer's public
    items (the peer applies the same rule: ``registry.sharing.visibility``)."""
    return bool(partnerships_with(session, node_id))


def _set_view(bind: Bind, node_id: str, cursor: str, mode: str, *, purge: bool) -> None:
    with transaction(bind) as connection:
        dropped = 0
        if purge:
            now = utcnow()
            for model in MIRROR_MODELS:
                table = model.__table__
                purged = list(
                    connection.execute(
                        sa.update(table)
                        .where(
                            table.c.origin == node_id,
                            table.c.audience.is_not(None),
                            table.c.deleted_at.is_(None),
                        )
                        .values(deleted_at=now)
                        .returning(table.c.id)
                    ).scalars()
                )
                dropped += len(purged)
                indexing.rows_written(connection, table.name, purged)
        connection.execute(
            sa.update(PEERS)
            .where(PEERS.c.node_id == node_id)
            .values(cursor=cursor, feed_mode=mode, items=PEERS.c["items"] - dropped)
        )


# --- tokens --------------------------------------------------------------------------

# Access tokens for peers' feeds, reused by later runs of this process until shortly
# before they expire: (token endpoint, client id) -> (token, monotonic expiry).
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()
TOKEN_MARGIN_SECONDS = 30.0


class TokenRejected(SyncError):
    """The peer answered 401 to a token it had granted."""


def _token(
    client: httpx2.Client,
    keys: KeyStore,
    client_id: str,
    node_id: str,
    token_endpoint: str,
    *,
    renew: bool = False,
) -> str | None:
    """An access token from the peer (cached), or None when it refuses this node one."""
    key = (token_endpoint, client_id)
    with _TOKENS_LOCK:
        cached = _TOKENS.pop(key, None)
        if cached is not None and not renew and cached[1] > time.monotonic():
            _TOKENS[key] = cached
            return cached[0]
    fetched = _fetch_token(client, keys, client_id, node_id, token_endpoint)
    if fetched is None:
        return None
    token, lifetime = fetched
    if lifetime > TOKEN_MARGIN_SECONDS:
        with _TOKENS_LOCK:
            _TOKENS[key] = (token, time.monotonic() + lifetime - TOKEN_MARGIN_SECONDS)
    return token


def _fetch_token(
    client: httpx2.Client, keys: KeyStore, client_id: str, node_id: str, token_endpoint: str
) -> tuple[str, float] | None:
    """A fresh access token and its lifetime in seconds, or None when the peer
    refuses this node one."""
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
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
        # Access tokens between nodes live at most 300 s (DESIGN §3), whatever a peer says.
        return str(payload["access_token"]), min(lifetime, 300.0)
    return None  # pragma: no cover


# --- reading a page ------------------------------------------------------------------


def _fetch_page(
    client: httpx2.Client, feed_url: str, cursor: str, token: str | None, node_id: str
) -> CheckedPage:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = b""
    for attempt in range(RETRIES):
        try:
            status, body = request_bytes(
                client,
                "GET",
                feed_url,
                params={"after": cursor, "limit": PAGE_LIMIT},
                headers=headers,
                cap=PAGE_CAP,
            )
            if status != 200:
                if status == 401 and token is not None:
                    raise TokenRejected(f"{node_id} refused the access token: {status}")
                check_status(feed_url, status, _json_or_none(body))
            break
        except PeerError as exc:
            if not exc.retry or attempt == RETRIES - 1:
                raise SyncError(f"reading the feed of {node_id} failed: {exc}") from exc
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    return parse_page(body, node_id, feed_url)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def parse_page(body: bytes, node_id: str, url: str = "the feed") -> CheckedPage:
    """Parse and validate a page in one pass, straight from the response bytes."""
    try:
        page = CheckedPage.model_validate_json(body)
    except ValidationError as exc:
        raise SyncError(f"{node_id}: {_page_error(exc, body, url)}") from exc
    if page.origin != node_id:
        raise SyncError(f"{node_id}: the feed page claims to come from {page.origin}")
    return page


def _page_error(exc: ValidationError, body: bytes, url: str) -> str:
    """The first error, said as the entry and field it concerns."""
    error = exc.errors()[0]
    if error["type"] == "json_invalid":
        return f"{url}: answered 200 with a body that is not JSON"
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
        n = loc[1]
        # loc[2] is the entry's kind, as the discriminated union names its branch.
        field_path = ".".join(map(str, loc[3:])) or "entry"
        return f"{_where(body, n)}: {field_path}: {error['msg']}; page refused"
    return f"the feed page is not valid: {'.'.join(map(str, loc))}: {error['msg']}"


def _where(body: bytes, n: int) -> str:
    """``entry N (kind id)``, reading the raw page again only to name the entry."""
    try:
        entry = json.loads(body)["entries"][n]
        return f"entry {n} ({entry.get('kind')} {entry.get('id')})"
    except (ValueError, LookupError, TypeError, AttributeError):
        return f"entry {n}"


# --- applying a page -----------------------------------------------------------------


def expected_global_id(node_id: str, entry: Any) -> str | None:
    base = f"{node_id}/api/v1"
    data = entry.data
    if entry.kind == "release":
        return f"{base}/apps/{data.app_id}/releases/{entry.id}" if data else None
    if entry.kind == "distribution":
        return f"{base}/datasets/{data.dataset_id}/distributions/{entry.id}" if data else None
    return f"{base}/{entry.kind}s/{entry.id}"


def _validated(node_id: str, page: CheckedPage) -> list[Any]:
    """What the schema cannot say: every entry comes from the peer and names itself
    under the peer's API, and every upsert carries its entity."""
    prefix = f"{node_id}/api/v1/"
    for n, entry in enumerate(page.entries):
        where = f"entry {n} ({entry.kind} {entry.id})"
        if entry.origin != node_id:
            raise SyncError(f"{where} claims origin {entry.origin}, not {node_id}; page refused")
        if entry.op == "upsert" and entry.data is None:
            raise SyncError(f"{where}: an upsert without data; page refused")
        expected = expected_global_id(node_id, entry)
        if not entry.global_id.startswith(prefix) or (
            expected is not None and entry.global_id != expected
        ):
            raise SyncError(f"{where}: global id {entry.global_id} is not on {node_id}; refused")
    return list(page.entries)


def apply_page(
    bind: Bind, settings: Settings, node_id: str, page: CheckedPage, holder: str
) -> tuple[int, int]:
    """Apply one page and move the cursor, in one transaction. Returns the numbers
    of upserts and of tombstones applied."""
    entries = _validated(node_id, page)
    upserts = deletes = live = 0
    with transaction(bind) as connection:
        # Cursor first: the lease is checked by the same statement that moves it.
        moved = connection.execute(
            sa.update(PEERS)
            .where(PEERS.c.node_id == node_id, PEERS.c.lease_holder == holder)
            .values(
                cursor=page.next_cursor,
                remaining=page.remaining,
                lease_expires_at=utcnow() + LEASE_FOR,
            )
        ).rowcount
        if moved != 1:
            raise SyncError(f"lost the lease on {node_id}")
        publishers = PUBLISHERS
        local_publishers: dict[str, uuid.UUID] = dict(
            connection.execute(
                sa.select(publishers.c.code, publishers.c.id).where(
                    publishers.c.origin.is_(None), publishers.c.deleted_at.is_(None)
                )
            ).all()
        )
        by_kind: dict[str, list[Any]] = {kind: [] for kind in MODELS}
        for entry in entries:
            by_kind[entry.kind].append(entry)
        audiences: dict[tuple[str, ...], str] = {}
        for kind in MODELS:
            if by_kind[kind]:
                u, d, n = _apply_kind(
                    connection, node_id, kind, by_kind[kind], local_publishers, audiences
                )
                upserts += u
                deletes += d
                live += n
        if live:
            connection.execute(
                sa.update(PEERS)
                .where(PEERS.c.node_id == node_id)
                .values(items=PEERS.c["items"] + live)
            )
    return upserts, deletes


def _apply_kind(
    connection: sa.Connection,
    node_id: str,
    kind: str,
    entries: list[Any],
    local_publishers: dict[str, uuid.UUID],
    audiences: dict[tuple[str, ...], str],
) -> tuple[int, int, int]:
    """Upserts in one bulk statement, tombstones in another. Returns the upserts, the
    tombstones, and by how much the number of live mirrored items changed."""
    table: sa.Table = MODELS[kind].__table__
    # id -> (origin, publisher_id, live)
    existing: dict[uuid.UUID, tuple[str | None, Any, bool]] = {}
    ids = [entry.id for entry in entries]
    extra = table.c.publisher_id if kind == "adoption" else sa.null()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row_id, origin, publisher_id, alive in connection.execute(
            sa.select(table.c.id, table.c.origin, extra, table.c.deleted_at.is_(None)).where(
                table.c.id.in_(chunk)
            )
        ):
            existing[row_id] = (origin, publisher_id, bool(alive))

    if kind in PARENTS:
        column, parent_kind = PARENTS[kind]
        parents = {getattr(e.data, column) for e in entries if e.data is not None}
        _check_parents(connection, node_id, parent_kind, parents)

    new: list[dict[str, Any]] = []
    known: list[dict[str, Any]] = []
    tombstones: list[uuid.UUID] = []
    live = 0
    for entry in entries:
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
        values = _row_values(node_id, kind, entry, local_publishers, audiences)
        (new if found is None else known).append(values)
        if found is None or not found[2]:
            live += 1
        existing[entry.id] = (node_id, None, True)
    insert, upsert = _writes(table, connection.dialect)
    if new:
        insert.execute(connection, new)
    if known:
        upsert.execute(connection, known)
    written = [row["id"] for row in new] + [row["id"] for row in known]
    if tombstones:
        now = utcnow()
        live -= connection.execute(
            sa.update(table)
            .where(
                table.c.id.in_(tombstones),
                table.c.origin == node_id,
                table.c.deleted_at.is_(None),
            )
            .values(deleted_at=now)
        ).rowcount
        written += tombstones
        # A hidden parent hides its children at once, whatever the feed sends next.
        for child_kind, column in CHILDREN.get(kind, []):
            child = MODELS[child_kind].__table__
            hidden = connection.execute(
                sa.update(child)
                .where(
                    child.c[column].in_(tombstones),
                    child.c.origin == node_id,
                    child.c.deleted_at.is_(None),
                )
                .values(deleted_at=now)
                .returning(child.c.id)
            ).scalars()
            hidden_ids = list(hidden)
            live -= len(hidden_ids)
            indexing.rows_written(connection, child.name, hidden_ids)
    # Derived data (the search index) follows in this same transaction.
    indexing.rows_written(connection, table.name, written)
    return len(new) + len(known), len(tombstones), live


def _check_parents(
    connection: sa.Connection, node_id: str, parent_kind: str, parent_ids: set[uuid.UUID]
) -> None:
    table = MODELS[parent_kind].__table__
    wanted = list(parent_ids)
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            connection.execute(
                sa.select(table.c.id).where(table.c.id.in_(chunk), table.c.origin == node_id)
            ).scalars()
        )
    missing = [p for p in wanted if p not in found]
    if missing:
        raise SyncError(
            f"{node_id} sent items of a {parent_kind} it never sent ({missing[0]}); page refused"
        )


class _Bulk:
    """A statement compiled once, run with parameters processed here.

    SQLAlchemy's own SQL and its own bind processors (the same values reach the
    database), but without its per-row parameter handling, which for a page of
    mirrors costs more than the database's own work.
    """

    def __init__(self, statement: Any, table: sa.Table, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        names = compiled.positiontup or [column.name for column in table.c]
        self.positional = compiled.positiontup is not None
        self.columns = [
            (name, None if _is_json(table.c[name]) else _processor(table.c[name], dialect))
            for name in names
        ]

    def execute(self, connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
        columns = self.columns
        params: list[Any]
        if self.positional:
            params = [
                tuple(
                    row[name] if process is None else process(row[name])
                    for name, process in columns
                )
                for row in rows
            ]
        else:
            params = [
                {
                    name: row[name] if process is None else process(row[name])
                    for name, process in columns
                }
                for row in rows
            ]
        connection.exec_driver_sql(self.sql, params)


def _is_json(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, sa.JSON)


def _processor(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    return column.type.dialect_impl(dialect).bind_processor(dialect)


@lru_cache(maxsize=64)
def _writes(table: sa.Table, dialect: sa.Dialect) -> tuple[_Bulk, _Bulk]:
    """For one kind: a plain ``INSERT`` for rows new to this node, and
    ``INSERT … ON CONFLICT (id) DO UPDATE`` of every column for rows already mirrored
    (a plain insert is about twice as fast on SQLite, and the page's existence check
    already tells them apart).

    JSON columns are bound as the text of the document (``_row_values`` encodes it
    once). The update only ever touches a row mirrored from the same peer;
    ``_apply_kind`` has already refused a page that names any other row.
    """
    postgres = dialect.name == "postgresql"
    values: dict[str, Any] = {}
    for column in table.c:
        if _is_json(column):
            param: Any = sa.bindparam(column.name, type_=sa.Text)
            values[column.name] = sa.cast(param, JSONB) if postgres else param
        else:
            values[column.name] = sa.bindparam(column.name, type_=column.type)
    insert = (postgresql.insert if postgres else sqlite.insert)(table).values(values)
    upsert = insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: insert.excluded[name] for name in values if name != "id"},
        where=table.c.origin == insert.excluded.origin,
    )
    return _Bulk(insert, table, dialect), _Bulk(upsert, table, dialect)


@cache
def _layout(kind: str) -> tuple[frozenset[str], frozenset[str], dict[str, Any]]:
    """For one kind: its JSON columns, those that store None as SQL NULL, and the
    columns the entity's data does not carry, with the value a mirror gets."""
    table: sa.Table = MODELS[kind].__table__
    fields = set(DATA_MODELS[kind].model_fields)
    json_columns = frozenset(c.name for c in table.c if isinstance(c.type, sa.JSON))
    null_as_sql = frozenset(
        c.name for c in table.c if isinstance(c.type, sa.JSON) and c.type.none_as_null
    )
    own = {"id", "origin", "audience", "change_seq", "deleted_at"}
    missing = {c.name: None for c in table.c if c.name not in fields and c.name not in own}
    return json_columns, null_as_sql, missing


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _row_values(
    node_id: str,
    kind: str,
    entry: Any,
    local_publishers: dict[str, uuid.UUID],
    audiences: dict[tuple[str, ...], str],
) -> dict[str, Any]:
    json_columns, null_as_sql, missing = _layout(kind)
    values: dict[str, Any] = entry.data.model_dump()
    values.update(missing)
    for name in json_columns:
        if name in values and not (values[name] is None and name in null_as_sql):
            values[name] = _json_text(values[name])
    if kind == "adoption":
        values["adopter_node"] = values.get("adopter_node") or node_id
    audience: str | None = None
    if entry.audience is not None:
        codes = tuple(entry.audience)
        if codes not in audiences:
            ids = sorted(str(local_publishers[c]) for c in codes if c in local_publishers)
            audiences[codes] = _json_text(ids)
        audience = audiences[codes]
    partners_only = kind in ("app", "dataset") and values["visibility"] == Visibility.partners
    if partners_only and audience is None:
        audience = "[]"  # a partners item no publisher here may see yet
    values.update(id=entry.id, origin=node_id, audience=audience, change_seq=0, deleted_at=None)
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

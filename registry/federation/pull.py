"""Pulling a peer's change feed, page by page, from the stored cursor.

With a token when a partnership entitles this node to one (``registry.federation.tokens``)
and anonymously otherwise; a change between the two views reads the feed again or drops
what only the partnership showed. Each page is checked as it is parsed and handed to
``registry.federation.apply``, which writes it together with the new cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import httpx2
import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, select

from registry import indexing
from registry.db import Bind, session_scope, transaction, utcnow
from registry.federation.apply import PEERS, apply_page
from registry.federation.errors import SyncError, TokenRejected
from registry.federation.models import MIRROR_MODELS
from registry.federation.schemas import CheckedPage
from registry.federation.tokens import peer_token
from registry.federation.transport import (
    PAGE_CAP,
    PeerError,
    check_status,
    new_client,
    request_bytes,
    retried,
)
from registry.oauth.keys import KeyStore
from registry.peers import Peer
from registry.settings import Settings
from registry.sharing import service as sharing
from registry.sharing.visibility import partnerships_with

PAGE_LIMIT = 1000


@dataclass
class SyncResult:
    """What a run did: ``pull`` counts it page by page, ``sync_peer`` returns it."""

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


def load_peer(session: Session, node_id: str) -> Peer:
    peer = session.exec(select(Peer).where(Peer.node_id == node_id)).first()
    if peer is None:
        raise SyncError(f"{node_id} is not a peer of this node")
    return peer


def pull(
    connection: sa.Connection,
    settings: Settings,
    keys: KeyStore,
    node_id: str,
    holder: str,
    result: SyncResult,
    progress: Progress,
) -> None:
    """Read the peer's feed from the stored cursor to its end, applying each page."""
    with session_scope(connection, write=False) as session:
        peer = load_peer(session, node_id)
        entitled = _entitled(session, node_id)
        cursor, mode, feed_url = peer.cursor, peer.feed_mode, peer.feed_url
        token_endpoint = peer.token_endpoint
        client_id = peer.client_id or sharing.peer_client_id(settings.issuer)
    with new_client(settings.fetch_allow) as client:

        def new_token(*, renew: bool = False) -> str | None:
            return peer_token(client, keys, client_id, node_id, token_endpoint, renew=renew)

        token = new_token() if entitled else None
        cursor, result.mode = _change_view(connection, node_id, cursor, mode, token)
        result.from_start = cursor == "0"
        done = 0
        with closing(_pages(client, feed_url, cursor, token, new_token, node_id)) as pages:
            for page in pages:
                if result.pages == 0:
                    progress.start(node_id, len(page.entries) + page.remaining)
                upserts, deletes = apply_page(connection, node_id, page, holder)
                result.pages += 1
                result.upserts += upserts
                result.deletes += deletes
                done += len(page.entries)
                progress.advance(done, page.remaining)


def _change_view(
    connection: sa.Connection, node_id: str, cursor: str, mode: str, token: str | None
) -> tuple[str, str]:
    """The cursor and mode to read the feed with, now that this node has a token or
    not; a change from the last run's view is stored before the first page."""
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
    return cursor, mode


def _pages(
    client: httpx2.Client,
    feed_url: str,
    cursor: str,
    token: str | None,
    new_token: Callable[..., str | None],
    node_id: str,
) -> Generator[CheckedPage, None, None]:
    """The feed's pages from ``cursor`` to its end, each checked. The next page is
    fetched while the caller applies this one: the peer builds it and this node
    writes the previous one at the same time."""
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
            yield page
            if not page.has_more:
                return


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


# --- reading a page ------------------------------------------------------------------


def _fetch_page(
    client: httpx2.Client, feed_url: str, cursor: str, token: str | None, node_id: str
) -> CheckedPage:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"

    def ask() -> bytes:
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
        return body

    try:
        body = retried(ask)
    except PeerError as exc:
        raise SyncError(f"reading the feed of {node_id} failed: {exc}") from exc
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

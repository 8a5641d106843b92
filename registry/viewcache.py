"""Answers of the anonymous view kept per catalog version, for the catalog pages and
for ``/api/v1`` reads.

The anonymous view depends on nothing but the rows, so an answer made once can be
given again to every anonymous reader until the catalog changes. Whether it changed
is told by the catalog's *version* (:func:`read_version`): the node-wide change
counter, which every local write moves in its own transaction; each peer's cursor and
sync stamps, which every applied page of a peer's feed and every sync attempt move in
theirs; and today's date, by which partnerships lapse. Reading it is one small
statement, asked only when something may have changed: on SQLite when
``PRAGMA data_version`` moves; on PostgreSQL when a notification says a transaction
changed the counter or a peer (a trigger sends it, from whatever process commits), when
this process commits such a change, and at least every :data:`RECHECK_SECONDS`.

Used by :class:`AnonymousReadCache`, which answers anonymous reads of the API and of
the catalog pages before routing, and by the web pages' facets (``registry.web``).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import select
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Session, col
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.db import ChangeCounter, table_of
from registry.peers import Peer

T = TypeVar("T")


# --- the catalog's version -------------------------------------------------------------


def today() -> date:
    # The same day the visibility rule reads (``registry.sharing.visibility.today``):
    # a partnership that ends today stops counting tomorrow, whatever else changed.
    return date.today()


def version_query() -> sa.Select[Any]:
    """One row per peer (or one row with no peer) carrying the change counter and the
    peer's cursor and sync stamps: the catalog's version in one round trip."""
    counter = sa.select(col(ChangeCounter.value)).scalar_subquery()
    one = sa.select(sa.literal(1).label("one")).subquery()
    return (
        sa.select(
            counter,
            col(Peer.node_id),
            col(Peer.cursor),
            col(Peer.name),
            col(Peer.items),
            col(Peer.last_success_at),
            col(Peer.last_error_at),
        )
        .select_from(one.outerjoin(table_of(Peer), sa.true()))
        .order_by(col(Peer.node_id))
    )


def read_version(connection: sa.Connection) -> Hashable:
    """A value that changes whenever anything a reader is shown may have changed: every
    local write takes the next change sequence number; every applied page of a peer's
    feed moves that peer's cursor in the same transaction, and every sync attempt
    stamps the peer; and partnerships lapse by date."""
    rows = connection.execute(version_query()).all()
    return (tuple(tuple(row) for row in rows), today())


def catalog_version(session: Session) -> Hashable:
    """The catalog's version (:func:`read_version`), read in the session's transaction."""
    return read_version(session.connection())


_readers = itertools.count()

# The channel on which PostgreSQL says a transaction changed the catalog's version: a
# trigger on the change counter and on the peers (migration ``catalog_notify``) notifies
# it, and the notification reaches listeners once that transaction has committed.
CHANNEL = "lumbung_catalog"

# On PostgreSQL, the version is read again at least this often whatever was heard: the
# bound on an answer's age should a notification not come (a trigger dropped by hand, a
# pooler between the node and the database that does not pass them on, a connection
# lost without a word).
RECHECK_SECONDS = 1.0


class VersionReader:
    r"""Reads the catalog's version over a DBAPI connection of its own, with the query
    compiled once, and reads it again only when it may have changed: an answer served
    from a cache then costs no round trip to the database and no thread hop. Used from
    the event loop only.

    - On SQLite, ``PRAGMA data_version`` (no round trip: the file's own counter)
      changes whenever another connection commits; the version is read again then.
    - On PostgreSQL, the connection is in autocommit (a read is one statement, with no
      ``ROLLBACK`` after it) and ``LISTEN``\s on :data:`CHANNEL`. Whether anything
      arrived is asked of the socket without a round trip; the version is read again
      when a notification came (from any process's commit), when this process
      committed a change to the counter or a peer (:func:`local_commits`: seen at
      once, without waiting for the notification), after a reconnection, and at least
      every ``recheck_seconds``.

    Its versions are its own: each reader's carry a number no other reader in the
    process uses, so answers kept under one database's version are never taken for
    another's (an app given a new engine gets a new reader)."""

    def __init__(self, engine: sa.Engine, recheck_seconds: float | None = None) -> None:
        self.engine = engine
        self._number = next(_readers)
        self._sql = str(
            version_query().compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        )
        self._listen = engine.dialect.name == "postgresql"
        self._recheck = RECHECK_SECONDS if recheck_seconds is None else recheck_seconds
        self._connection: Any = None
        self._finalizer: Callable[[], Any] = lambda: None
        # The rows last read, and the data_version they were read at (SQLite).
        self._rows: tuple[tuple[Any, ...], ...] | None = None
        self._data_version: Any = None
        # PostgreSQL: notifications psycopg took in while running a statement, the
        # local commits and the clock when the version was last read.
        self._heard = _Heard()
        self._local_seen = -1
        self._read_at = 0.0
        self._socket = select.poll()
        # How many times the version itself was read (tests and benchmarks count them).
        self.queries = 0

    def read(self) -> Hashable:
        fresh = self._connection is None
        try:
            return self._read()
        except Exception as error:
            # A dropped connection (say, a database restart): open a new one.
            self.close()
            if fresh:
                raise _wrapped(error, self.engine) from error
        # The connection had been open a while: it may have been lost meanwhile (a
        # restart of the database), and a new one is worth one more try at once.
        try:
            return self._read()
        except Exception as error:
            self.close()
            raise _wrapped(error, self.engine) from error

    def _read(self) -> Hashable:
        if self._connection is None:
            self._open()
        if self._listen:
            self._read_postgres()
        else:
            self._read_sqlite()
        return (self._number, self._rows, today())

    def _open(self) -> None:
        connection = self.engine.raw_connection()
        # Closed with the reader if no one closes it first (an app dropped without its
        # shutdown, as tests do): a PostgreSQL connection left to the garbage collector
        # is dropped unclosed, and psycopg warns of it.
        self._finalizer = weakref.finalize(self, _close_quietly, connection)
        self._connection = connection
        self._rows = None
        if self._listen:
            # psycopg's own connection: its notifications and its socket.
            dbapi: Any = connection.dbapi_connection
            # Out of any transaction (a pool's ping may have begun one), then in
            # autocommit: one statement per read, and notifications are delivered
            # only between transactions.
            dbapi.rollback()
            dbapi.autocommit = True
            self._heard = _Heard()
            dbapi.add_notify_handler(self._heard)
            # Listening before the version is first read: a commit in between is
            # both heard and possibly read, never missed.
            dbapi.execute(f"LISTEN {CHANNEL}")
            self._socket = select.poll()
            self._socket.register(dbapi.pgconn.socket, select.POLLIN)

    def _read_postgres(self) -> None:
        dbapi = self._connection.dbapi_connection
        # Whether the socket holds anything, without waiting: a notification, or the
        # end of a connection the database dropped (whose read then fails, and a new
        # connection is opened). Either way the version is read again.
        changed = self._heard.count > 0
        pgconn = dbapi.pgconn
        # Many notifications may have come while no one read (bounded: the loss of the
        # connection keeps its socket readable, and its read fails).
        for _ in range(64):
            if not self._socket.poll(0):
                break
            changed = True
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                pass
        local = _local_commits
        now = time.monotonic()
        if (
            changed
            or self._rows is None
            or local != self._local_seen
            or now - self._read_at >= self._recheck
        ):
            # Taken before the statement: a notification psycopg takes in while it
            # runs, or a local commit meanwhile, makes the next read read again.
            self._heard.count = 0
            self._local_seen = local
            self._read_at = now
            with dbapi.cursor() as cursor:
                cursor.execute(self._sql)
                self._rows = tuple(tuple(row) for row in cursor.fetchall())
            self.queries += 1

    def _read_sqlite(self) -> None:
        cursor = self._connection.cursor()
        try:
            # Asked before the version is read: a commit in between changes it again,
            # so the next read reads the version again too.
            cursor.execute("PRAGMA data_version")
            (data_version,) = cursor.fetchone()
            if self._rows is None or data_version != self._data_version:
                cursor.execute(self._sql)
                self._rows = tuple(tuple(row) for row in cursor.fetchall())
                self.queries += 1
            self._data_version = data_version
        finally:
            cursor.close()
        # Ends the read (a SQLite snapshot) so the next read sees the latest commits.
        self._connection.rollback()

    def close(self) -> None:
        self._rows = None
        if self._connection is not None:
            self._connection = None
            self._finalizer()


class _Heard:
    """Counts the notifications psycopg takes in while it runs a statement (it hands
    them to its handlers). Holds nothing of the reader, which the connection must not
    keep alive."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, notify: object) -> None:
        self.count += 1


def _wrapped(error: Exception, engine: sa.Engine) -> Exception:
    """Errors of the DBAPI itself (the reader runs its statements on the DBAPI
    connection) as SQLAlchemy's, which callers catch."""
    if isinstance(error, sa.exc.SQLAlchemyError):
        return error
    dbapi_error = engine.dialect.loaded_dbapi.Error
    if isinstance(error, dbapi_error):
        return sa.exc.DBAPIError.instance(None, None, error, dbapi_error)
    return error


# --- commits of this process -----------------------------------------------------------

# Moved after each commit of this process that wrote the change counter or a peer, so
# a PostgreSQL reader reads the version again at once, before the commit's notification
# arrives: a reader's next request sees its own write.
_commits = itertools.count(1)
_local_commits = 0
_WROTE = "lumbung.catalog_written"
_VERSION_TABLES = frozenset({table_of(ChangeCounter).name, table_of(Peer).name})


def local_commits() -> int:
    """A number that changes after each commit of this process that changed the
    catalog's version."""
    return _local_commits


def _moved() -> None:
    global _local_commits
    _local_commits = next(_commits)


def _info(connection: sa.Connection) -> dict[Any, Any] | None:
    # ``Connection.info`` of a closed or invalidated connection would try to open a new
    # one (or raise): these hooks run on the way out of a failure too.
    if connection.closed or connection.invalidated:
        return None
    return connection.info


def _note_write(
    connection: sa.Connection, statement: Any, multiparams: Any, params: Any, options: Any
) -> None:
    if isinstance(statement, UpdateBase) and (
        getattr(statement.table, "name", None) in _VERSION_TABLES
    ):
        info = _info(connection)
        if info is not None:
            info[_WROTE] = True


def _on_commit(connection: sa.Connection) -> None:
    # Before the DBAPI commit (SQLAlchemy has no event after it): moved here for a
    # connection kept open across transactions, and again once it is done (below).
    info = _info(connection)
    if info is not None and info.get(_WROTE):
        _moved()


def _on_rollback(connection: sa.Connection) -> None:
    info = _info(connection)
    if info is not None:
        info.pop(_WROTE, None)


def _on_begin(connection: sa.Connection) -> None:
    # The transaction before this one committed a change (a connection kept open).
    info = _info(connection)
    if info is not None and info.pop(_WROTE, False):
        _moved()


def _on_checkin(dbapi_connection: Any, record: ConnectionPoolEntry | None) -> None:
    # Back in the pool after its unit of work: that commit is done.
    if record is not None and record.info.pop(_WROTE, False):
        _moved()


def install() -> None:
    """Install the hooks that tell readers of this process's commits (run at start:
    ``registry.startup``). Running it again changes nothing."""
    hooks: list[tuple[Any, str, Callable[..., None]]] = [
        (sa.Engine, "before_execute", _note_write),
        (sa.Engine, "commit", _on_commit),
        (sa.Engine, "rollback", _on_rollback),
        (sa.Engine, "begin", _on_begin),
        (sa.pool.Pool, "checkin", _on_checkin),
    ]
    for target, name, hook in hooks:
        if not event.contains(target, name, hook):
            event.listen(target, name, hook)


def _close_quietly(connection: Any) -> None:
    # Closes the DBAPI connection itself rather than handing it back to a pool that
    # may have been disposed meanwhile. It is being thrown away: a failure to close it
    # changes nothing.
    with contextlib.suppress(Exception):
        connection.invalidate()


def current_version(state: Any) -> Hashable:
    """The catalog's version for a request, read by the app's :class:`VersionReader`
    (``state`` is the app's ``state``, whose ``engine`` is the node's bind). In tests
    the bind is the test's own connection, which is read as it is."""
    bind = state.engine
    if isinstance(bind, sa.Connection):
        return read_version(bind)
    reader: VersionReader | None = getattr(state, "catalog_versions", None)
    if reader is None or reader.engine is not bind:
        if reader is not None:
            reader.close()
        reader = state.catalog_versions = VersionReader(bind)
    return reader.read()


def close_versions(state: Any) -> None:
    """Close the connection the app's :class:`VersionReader` keeps, before its engine
    is disposed: left to the garbage collector, a PostgreSQL connection is dropped
    without being closed (and psycopg says so)."""
    reader: VersionReader | None = getattr(state, "catalog_versions", None)
    if reader is not None:
        reader.close()
        state.catalog_versions = None


# --- the cache -------------------------------------------------------------------------


class ViewCache:
    """Results of reads, kept per key and catalog version, so a change never sees an
    earlier answer. Only the anonymous view is cached: it is the one most readers
    read with, and it depends on nothing but the rows themselves. Bounded by a number
    of entries and, for values stored with a cost, a number of bytes; the least
    recently used go first (entries of earlier versions, which are never asked for
    again, among them). Safe to use from several threads."""

    def __init__(self, size: int = 256, max_bytes: int | None = None) -> None:
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    def get(
        self,
        session: Session,
        principal: object | None,
        key: Hashable,
        compute: Callable[[], T],
    ) -> T:
        if principal is not None:
            return compute()
        version = catalog_version(session)
        found = self.lookup(key, version)
        if found is not None:
            return found  # type: ignore[no-any-return]
        value = compute()
        self.store(key, version, value)
        return value

    def lookup(self, key: Hashable, version: Hashable) -> Any:
        """The value kept for ``key`` at ``version``, or None. The version must have
        been read before the value was computed, so that a value is never filed under
        a version newer than the data it was made from."""
        with self._lock:
            entry = self._entries.get((key, version))
            if entry is None:
                return None
            self._entries.move_to_end((key, version))
            return entry[0]

    def store(self, key: Hashable, version: Hashable, value: Any, cost: int = 0) -> None:
        """Keep ``value`` for ``key`` at ``version``; ``cost`` is its size in bytes,
        counted against ``max_bytes``. A value costing more than that is not kept."""
        if self._max_bytes is not None and cost > self._max_bytes:
            return
        with self._lock:
            earlier = self._entries.pop((key, version), None)
            if earlier is not None:
                self._bytes -= earlier[1]
            self._entries[(key, version)] = (value, cost)
            self._bytes += cost
            while len(self._entries) > self._size or (
                self._max_bytes is not None and self._bytes > self._max_bytes
            ):
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


# --- whole answers of the anonymous view -----------------------------------------------

# Headers of a kept answer that belong to the moment it was sent, not to the answer.
_PER_REQUEST = frozenset({b"date", b"server", b"x-request-id"})
# Request headers with which a reader asks for something other than the plain answer
# (a conditional or partial read), or says who they are: never served from the cache.
_NOT_PLAIN = (b"authorization", b"if-none-match", b"if-modified-since", b"if-match", b"range")
# Files (release artifacts) are served as they are stored, not kept in memory.
_FILES = re.compile(r"/api/v1/apps/[^/]+/releases/[^/]+/artifacts(/.*)?")

Kept = tuple[int, list[tuple[bytes, bytes]], bytes]


@dataclass(frozen=True)
class KeptReads:
    """One kind of answer :class:`AnonymousReadCache` keeps. ``key`` gives the key of a
    request of this kind (everything its answer depends on), or None for a request that
    is not of this kind. ``varies_on`` names the request headers the key holds: an
    answer whose ``Vary`` names any other header is not kept."""

    key: Callable[[Scope], Hashable | None]
    varies_on: frozenset[bytes]


def api_reads(prefix: str = "/api/v1/") -> KeptReads:
    """Reads of the API under ``prefix``, by method, path, query string and ``Accept``
    (the one header an API route negotiates on)."""

    def key(scope: Scope) -> Hashable | None:
        path: str = scope["path"]
        if not path.startswith(prefix) or _FILES.fullmatch(path):
            return None
        accept = Headers(scope=scope).get("accept", "")
        return ("api", scope["method"], path, scope["query_string"], accept)

    return KeptReads(key, frozenset({b"accept", b"accept-encoding"}))


API_READS = api_reads()


class AnonymousReadCache:
    """Keeps whole ``GET``/``HEAD`` answers given to anonymous readers (of ``/api/v1``,
    and of the catalog pages: one :class:`KeptReads` each) and gives them again,
    without routing or running the route, while the catalog's version is the same.

    Why it cannot serve a stale or a wrong view:

    - *Only the anonymous view.* A request with an ``Authorization`` header (the only
      way an API caller says who they are) is never looked up nor kept, so a partner
      always gets their own view, and an anonymous reader can only ever be given what
      an anonymous request produced. Conditional and range requests go through too.
    - *Keyed by everything the answer depends on.* Each kind's key (see
      :func:`api_reads`, ``registry.web.cache``), under the catalog's version. Answers
      name in ``Vary`` only headers their key holds; one that names another is not
      kept. Everything else a route reads is the node's settings, which do not change
      while it runs (``Link`` is built from the configured base URL, not from ``Host``).
    - *Never newer than the data.* The version is read before the route runs, so the
      answer is filed under a version no newer than the rows it was made from; any
      write, applied feed page or sync attempt committed after that moves the version,
      and the next read asks the route again. On a new day too. (On PostgreSQL, the
      move is seen at once for this process's own commits, when the commit's
      notification arrives for other processes', within milliseconds, and within
      :data:`RECHECK_SECONDS` should notifications not come: see
      :class:`VersionReader`.)
    - *Only finished, ordinary answers.* Status 200, sent in one piece (a streamed
      answer, such as a DCAT catalog, is passed on and not kept), without
      ``Set-Cookie``, ``Content-Disposition`` or ``Cache-Control: no-store``/
      ``private``, and no larger than ``max_entry_bytes``.

    Things that change answers without a catalog write (a node's own glossary terms)
    move the change counter when they are made, for this reason.
    """

    def __init__(
        self,
        app: ASGIApp,
        cache: Callable[[], ViewCache | None],
        max_entry_bytes: int,
        kinds: Sequence[KeptReads] = (API_READS,),
    ) -> None:
        self.app = app
        self.cache = cache
        self.max_entry_bytes = max_entry_bytes
        self.kinds = tuple(kinds)

    def _kind(self, scope: Scope) -> tuple[Hashable, KeptReads] | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        if any(name in _NOT_PLAIN for name, _ in scope["headers"]):
            return None
        for kind in self.kinds:
            key = kind.key(scope)
            if key is not None:
                return key, kind
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._kind(scope)
        cache = self.cache() if found is not None else None
        if cache is None or found is None:
            await self.app(scope, receive, send)
            return
        key, kind = found
        try:
            version = current_version(scope["app"].state)
        except sa.exc.SQLAlchemyError:
            # The route reads the same database and says what is wrong.
            await self.app(scope, receive, send)
            return
        kept: Kept | None = cache.lookup(key, version)
        if kept is not None:
            status, headers, body = kept
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        start: Message | None = None
        keep = True

        async def send_and_keep(message: Message) -> None:
            nonlocal start, keep
            if message["type"] == "http.response.start":
                start = message
                keep = message["status"] == 200 and _keepable(message["headers"], kind)
            elif message["type"] == "http.response.body" and keep and start is not None:
                body: bytes = message.get("body", b"")
                if message.get("more_body", False) or len(body) > self.max_entry_bytes:
                    keep = False
                else:
                    headers = [(n, v) for n, v in start["headers"] if n not in _PER_REQUEST]
                    cost = len(body) + sum(len(n) + len(v) for n, v in headers)
                    cache.store(key, version, (start["status"], headers, body), cost=cost)
            await send(message)

        await self.app(scope, receive, send_and_keep)


def _keepable(headers: list[tuple[bytes, bytes]], kind: KeptReads) -> bool:
    for name, value in headers:
        if name in (b"set-cookie", b"content-disposition"):
            return False
        if name == b"cache-control" and (b"no-store" in value or b"private" in value):
            return False
        if name == b"vary" and any(
            part.strip() not in kind.varies_on for part in value.lower().split(b",")
        ):
            return False
    return True

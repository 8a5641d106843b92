"""Database plumbing: the engine, the session per request, and the change sequence.

Every row that federation feeds carries ``change_seq``, a value of one node-wide
counter taken *inside* the writing transaction (DESIGN §4). The counter row is
updated with ``UPDATE … RETURNING``, so it stays locked until the writer commits:
writers are serialised and commit order equals sequence order, which is what lets
a feed reader never skip a change that commits late.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, QueuePool
from sqlmodel import Field, Session, SQLModel, col

from registry.errors import invalid
from registry.nul import MESSAGE, has_nul
from registry.settings import Settings

# One naming convention, so Alembic can name (and later drop) every constraint the
# same way on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


_uuid7_lock = threading.Lock()
_uuid7_last = (0, 0)  # (unix_ms, 74-bit counter) of the last id handed out


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7).

    Ids sort by creation time, so lists page on the primary key alone. That needs them
    to be strictly increasing within this process even when several are made in the
    same millisecond (or the clock steps back): the 74 bits after the timestamp are a
    counter that starts at a random value with its top bit clear each millisecond and is
    incremented by a random step otherwise (RFC 9562 §6.2, method 2).
    """
    global _uuid7_last
    with _uuid7_lock:
        unix_ms = time.time_ns() // 1_000_000
        last_ms, last_counter = _uuid7_last
        if unix_ms > last_ms:
            counter = int.from_bytes(os.urandom(10), "big") >> 7
        else:
            unix_ms = last_ms
            counter = last_counter + 1 + (int.from_bytes(os.urandom(2), "big") & 0xFF)
            if counter >= 1 << 74:  # the millisecond is used up: borrow the next one
                unix_ms, counter = last_ms + 1, int.from_bytes(os.urandom(10), "big") >> 7
        _uuid7_last = (unix_ms, counter)
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (counter >> 62) << 64
    value |= 0b10 << 62
    value |= counter & ((1 << 62) - 1)
    return uuid.UUID(int=value)


class AwareDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware.

    SQLite has no time zones and returns naive values; this keeps every datetime
    the code sees aware, whatever the database.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def table_of(model: type[SQLModel]) -> sa.Table:
    """The table a table model maps to, for Core statements. SQLModel sets
    ``__table__`` on every table model without declaring it to type checkers."""
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table), model
    return table


def rows_matched(result: object) -> int:
    """How many rows an UPDATE or DELETE matched. ``Session.execute`` is typed as
    returning a plain ``Result``; for these statements it is a ``CursorResult``."""
    assert isinstance(result, sa.CursorResult), result
    return result.rowcount


def timestamp_field(**kwargs: Any) -> Any:
    return Field(sa_type=AwareDateTime, **kwargs)


class ChangeCounter(SQLModel, table=True):
    """The single-row node-wide change sequence (DESIGN §4)."""

    __tablename__ = "change_counter"

    id: int = Field(default=1, primary_key=True)
    value: int = Field(default=0, sa_type=sa.BigInteger)


class Tracked(SQLModel):
    """Columns shared by every entity: ordered UUID, aware timestamps, soft delete and
    the change sequence that the federation feed pages on."""

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    created_at: datetime = timestamp_field(default_factory=utcnow)
    updated_at: datetime = timestamp_field(default_factory=utcnow)
    deleted_at: datetime | None = timestamp_field(default=None)
    change_seq: int = Field(default=0, sa_type=sa.BigInteger, index=True)


def take_change_seqs(session: OrmSession, count: int) -> range:
    """Reserve ``count`` consecutive values of the node-wide change sequence."""
    value = session.execute(
        sa.update(ChangeCounter)
        .where(col(ChangeCounter.id) == 1)
        .values(value=ChangeCounter.value + count)
        .returning(table_of(ChangeCounter).c.value)
    ).scalar_one()
    return range(value - count + 1, value + 1)


@event.listens_for(OrmSession, "before_flush")
def _stamp_change_seq(
    session: OrmSession, flush_context: UOWTransaction, instances: object
) -> None:
    """Give every new or changed tracked row its place in the change sequence.

    Doing it here, once for the whole flush, means no service can forget it.
    """
    changed = [obj for obj in session.new if isinstance(obj, Tracked)]
    changed += [
        obj
        for obj in session.dirty
        if isinstance(obj, Tracked) and session.is_modified(obj, include_collections=False)
    ]
    if not changed:
        return
    now = utcnow()
    # session.new builds a new set on each access: take it once, not once per row.
    new = session.new
    for obj, seq in zip(changed, take_change_seqs(session, len(changed)), strict=True):
        obj.change_seq = seq
        if obj not in new:
            obj.updated_at = now


@event.listens_for(OrmSession, "before_flush")
def _refuse_nul(session: OrmSession, flush_context: UOWTransaction, instances: object) -> None:
    """Refuse text holding a NUL character, whatever brought it (a YAML import, a
    harvest, a form): PostgreSQL cannot store it and would fail the request with a
    500. Requests are checked as they arrive (``middleware.RefuseNul``); this catches
    what was parsed from inside a body (YAML, XML) or fetched from elsewhere."""
    # ``session.new`` builds a fresh set on every access: read it once, or a flush of
    # n new rows costs n².
    new = session.new
    for obj in (*new, *session.dirty):
        state = sa.inspect(obj)
        names = state.dict.keys() if obj in new else state.committed_state.keys()
        for name in names:
            if name in state.mapper.column_attrs and has_nul(state.dict.get(name)):
                raise invalid([name], MESSAGE)


def create_db_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = sa.make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            _private_sqlite_files(url.database)
        file = bool(url.database) and url.database != ":memory:"
        if file and "poolclass" not in kwargs:
            # Connections are kept: opening one costs more than most reads, and a new
            # one starts with an empty page cache. One per worker thread at most.
            kwargs.update(poolclass=QueuePool, pool_size=8, max_overflow=40)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=kwargs.pop("poolclass", NullPool),
            **kwargs,
        )
        _make_sqlite_transactional(engine)
        return engine
    engine = sa.create_engine(url, pool_pre_ping=True, **kwargs)
    _plan_each_statement(engine)
    return engine


def _plan_each_statement(engine: Engine) -> None:
    """Let PostgreSQL plan every statement for the values it is given.

    psycopg prepares a statement it has run five times on a connection, and the
    server then settles on a generic plan, made without the values. A search's
    plan depends on them: the same statement reads a few hundred rows of a docid
    range for one word and walks the GIN index's whole list for another, and a plan
    chosen blind took a common word's sample from 7 ms to 90. Planning costs a
    fraction of a millisecond."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.close()
        dbapi_connection.commit()  # a SET in a transaction rolled back would be undone


def _private_sqlite_files(database: str) -> None:
    """Create the SQLite database file readable by the node's user only (0600), like
    the signing keys: it holds client secret hashes and private items. SQLite gives
    its -wal and -shm files the database file's permissions; files an older version
    left readable by others are tightened."""
    path = Path(database)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def _make_sqlite_transactional(engine: Engine) -> None:
    """Let SQLite take the write lock at BEGIN for writing sessions.

    pysqlite begins transactions lazily and as DEFERRED; two writers that both read
    first then deadlock on the lock upgrade and one fails at once with "database is
    locked". Writers begin IMMEDIATE instead and simply wait their turn.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(
        dbapi_connection: sqlite3.Connection, connection_record: ConnectionPoolEntry
    ) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A search reads thousands of rows of the index at random: 64 MiB of pages
        # kept per connection (SQLite's default is 2 MiB) instead of asking the OS for
        # them again. Connections are pooled, so the cache outlives a request.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def writer(engine: Engine) -> Engine:
    """The same engine, but its transactions take the write lock up front on SQLite."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


Bind = Engine | sa.Connection


def _begin_mode(connection: sa.Connection, write: bool) -> None:
    """On SQLite, make the connection's next transaction take the write lock at BEGIN
    when it will write (see ``_make_sqlite_transactional``)."""
    if connection.dialect.name == "sqlite" and not connection.in_transaction():
        connection.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")


@contextmanager
def session_scope(bind: Bind, *, write: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error.

    Used by the request dependency, the CLI and background jobs alike. Given a
    connection, the unit of work is a transaction on it (a job that runs many units
    keeps one connection open); if that connection is already in a transaction (as
    the test suite does), the unit of work nests in a savepoint instead.
    """
    if isinstance(bind, sa.Connection):
        _begin_mode(bind, write)
        session = Session(bind, join_transaction_mode="create_savepoint", expire_on_commit=False)
    else:
        session = Session(writer(bind) if write else bind, expire_on_commit=False)
    with session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def transaction(bind: Bind) -> Iterator[sa.Connection]:
    """A writing unit of work in plain Core, for bulk statements that need no ORM
    session: commit on success, roll back on error, nested in a savepoint when the
    connection is already in a transaction."""
    if isinstance(bind, sa.Connection):
        if bind.in_transaction():
            with bind.begin_nested():
                yield bind
            return
        _begin_mode(bind, True)
        with bind.begin():
            yield bind
        return
    with writer(bind).begin() as connection:
        yield connection

"""The catalog's version and the bounded cache kept by it (``registry.viewcache``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from registry import migrate, viewcache
from registry.db import ChangeCounter, create_db_engine
from registry.settings import Settings, load_settings
from tests.conftest import on_postgres
from tests.nodes import drop_postgres_database, postgres_database


def test_version_reader_sees_each_commit(tmp_path):
    """The cache's version is read over a connection kept open across requests; it
    must see every commit made meanwhile by other connections."""
    from sqlalchemy.orm import Session as OrmSession

    from registry import migrate
    from registry.db import create_db_engine, take_change_seqs
    from registry.settings import load_settings

    settings = load_settings(data_dir=tmp_path, database_url=None)
    migrate.upgrade(settings)
    engine = create_db_engine(settings)
    reader = viewcache.VersionReader(engine)
    try:
        first = reader.read()
        assert reader.read() == first
        with OrmSession(engine) as other, other.begin():
            take_change_seqs(other, 1)
        assert reader.read() != first
    finally:
        reader.close()
        engine.dispose()


def test_readers_of_different_databases_never_share_a_version(tmp_path):
    """An app given another database reads its version anew, and answers kept under
    the first database's version are never found under the second's."""
    from registry import migrate
    from registry.db import create_db_engine
    from registry.settings import load_settings

    engines = []
    for name in ("a", "b"):
        settings = load_settings(data_dir=tmp_path / name, database_url=None)
        migrate.upgrade(settings)
        engines.append(create_db_engine(settings))

    class State:
        engine = engines[0]

    state = State()
    try:
        first = viewcache.current_version(state)
        state.engine = engines[1]
        second = viewcache.current_version(state)
        # Both databases are new and hold the same counter: the versions still differ.
        assert first != second
        assert state.catalog_versions.engine is engines[1]  # type: ignore[attr-defined]
    finally:
        viewcache.close_versions(state)
        for engine in engines:
            engine.dispose()


def test_cache_keeps_to_its_entry_count_and_bytes():
    cache = viewcache.ViewCache(size=3, max_bytes=100)
    for n in range(5):
        cache.store(n, "v", f"value {n}", cost=10)
    assert len(cache) == 3
    assert cache.lookup(0, "v") is None
    assert cache.lookup(4, "v") == "value 4"
    assert cache.lookup(4, "other version") is None
    # Bytes: a large value pushes out the least recently used ones.
    cache.lookup(2, "v")
    cache.store("big", "v", "big", cost=85)
    assert cache.lookup("big", "v") == "big"
    # Four entries, then 10 + 10 + 85 bytes: the two least recently used go.
    assert cache.lookup(3, "v") is None
    assert cache.lookup(4, "v") is None
    assert cache.lookup(2, "v") == "value 2"
    # A value larger than the whole cache is not kept at all.
    cache.store("huge", "v", "huge", cost=101)
    assert cache.lookup("huge", "v") is None
    assert cache.lookup("big", "v") == "big"


def test_cache_is_safe_from_several_threads():
    cache = viewcache.ViewCache(size=50, max_bytes=2_000)

    def work(offset: int) -> None:
        for n in range(2_000):
            cache.store((offset, n % 80), n % 3, n, cost=n % 40)
            cache.lookup((offset, (n * 7) % 80), n % 3)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) <= 50
    assert 0 <= cache._bytes <= 2_000


def test_a_reader_dropped_unclosed_closes_its_connection(settings, engine):
    """An app dropped without its shutdown (tests do it) takes its reader with it: the
    reader's connection is closed then, even after its engine was disposed, and not
    left to the garbage collector, for which psycopg warns of an unclosed connection."""
    import gc
    import warnings

    import pytest

    from registry.db import create_db_engine

    # A second engine on the test database (``engine``, which made its tables).
    own = create_db_engine(settings)
    reader = viewcache.VersionReader(own)
    reader.read()
    dbapi = reader._connection.dbapi_connection
    own.dispose()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del reader
        gc.collect()
    with pytest.raises(Exception, match="closed"):
        dbapi.cursor().execute("SELECT 1")


# --- a database of their own: these tests commit ----------------------------------------


@pytest.fixture(scope="module")
def own_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A migrated database of the kind the suite runs on, for tests that commit (the
    suite's own database is only ever written in transactions rolled back)."""
    data_dir = tmp_path_factory.mktemp("versions")
    url = postgres_database("versions") if on_postgres() else None
    settings = load_settings(data_dir=data_dir, database_url=url)
    migrate.upgrade(settings)
    yield settings
    if url is not None:
        drop_postgres_database(url)


@pytest.fixture
def own_engine(own_settings: Settings) -> Iterator[sa.Engine]:
    engine = create_db_engine(own_settings)
    yield engine
    engine.dispose()


def commit_elsewhere(settings: Settings) -> None:
    """Move the change counter from another process, as the worker or a second
    ``serve`` on the same database would: nothing of this process sees it happen."""
    url = sa.make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        code = (
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1])\n"
            "c.execute('UPDATE change_counter SET value = value + 1')\n"
            "c.commit()\n"
        )
        target = str(url.database)
    else:
        code = (
            "import psycopg, sys\n"
            "with psycopg.connect(sys.argv[1]) as c:\n"
            "    c.execute('UPDATE change_counter SET value = value + 1')\n"
        )
        target = url.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-c", code, target], check=True, timeout=60)


def first_change(reader: viewcache.VersionReader, before: object, within: float) -> float:
    """Read until the version differs from ``before``; how long it took."""
    start = time.monotonic()
    while reader.read() == before:
        assert time.monotonic() - start < within, "the change was not seen in time"
        time.sleep(0.005)
    return time.monotonic() - start


def test_a_cached_read_asks_the_database_nothing_while_nothing_changes(own_engine):
    reader = viewcache.VersionReader(own_engine, recheck_seconds=60)
    try:
        first = reader.read()
        for _ in range(100):
            assert reader.read() == first
        # The version was read once; the other reads asked the socket (PostgreSQL) or
        # the file's data_version (SQLite) only.
        assert reader.queries == 1
    finally:
        reader.close()


def test_a_commit_of_another_process_is_seen_by_the_next_reads(own_settings, own_engine):
    """The worker or a second ``serve`` commits: on PostgreSQL the commit's
    notification, not the periodic check (an hour away here), moves the version."""
    reader = viewcache.VersionReader(own_engine, recheck_seconds=3600)
    try:
        first = reader.read()
        commit_elsewhere(own_settings)
        # Notifications arrive within milliseconds; the bound allows for a loaded machine.
        assert first_change(reader, first, within=5.0) < 5.0
        assert reader.queries == 2
    finally:
        reader.close()


def test_without_notifications_the_version_is_read_again_within_the_recheck(
    own_settings, own_engine
):
    """Should no notification come (a pooler that does not pass them on), the version
    is still read again every ``recheck_seconds``."""
    reader = viewcache.VersionReader(own_engine, recheck_seconds=0.2)
    try:
        first = reader.read()
        if reader._listen:
            reader._connection.dbapi_connection.execute("UNLISTEN *")
        commit_elsewhere(own_settings)
        assert first_change(reader, first, within=5.0) < 5.0
    finally:
        reader.close()


def test_a_local_commit_is_seen_at_once(own_engine):
    """A request that wrote, then the same reader's next request: this process's
    commit is seen at once, without waiting for the database's notification."""
    from sqlalchemy.orm import Session as OrmSession

    from registry.db import session_scope, take_change_seqs

    reader = viewcache.VersionReader(own_engine, recheck_seconds=3600)
    try:
        if reader._listen:
            # Deaf to notifications: only this process's own hooks can tell it.
            reader.read()
            reader._connection.dbapi_connection.execute("UNLISTEN *")
        first = reader.read()
        moved = viewcache.local_commits()
        # A request's unit of work, as the routes commit theirs.
        with session_scope(own_engine) as session:
            take_change_seqs(session, 1)
        assert viewcache.local_commits() != moved
        second = reader.read()
        assert second != first
        # A unit of work that wrote nothing the version reads, or rolled back, does not
        # make the next read ask again.
        moved = viewcache.local_commits()
        with session_scope(own_engine, write=False) as session:
            session.execute(sa.text("SELECT 1"))
        with OrmSession(own_engine) as session:
            take_change_seqs(session, 1)
            session.rollback()
        assert viewcache.local_commits() == moved
        assert reader.read() == second
        # A connection kept open across units of work (a background job's).
        with own_engine.connect() as connection:
            with connection.begin():
                connection.execute(sa.update(ChangeCounter).values(value=ChangeCounter.value + 1))
            assert reader.read() != second
    finally:
        reader.close()


def test_a_dropped_connection_is_opened_again(own_settings, own_engine):
    """The database restarts (here: the reader's backend is terminated): the next read
    opens a new connection, listens again, and later commits are still seen."""
    if not on_postgres():
        pytest.skip("PostgreSQL: the reader's connection is a server's backend")
    reader = viewcache.VersionReader(own_engine, recheck_seconds=3600)
    admin = create_db_engine(own_settings)
    try:
        first = reader.read()
        pid = reader._connection.dbapi_connection.info.backend_pid
        terminate(admin, pid)
        # No error: the loss is seen on the socket and the read is made again.
        assert reader.read() == first
        assert reader._connection.dbapi_connection.info.backend_pid != pid
        commit_elsewhere(own_settings)
        first_change(reader, first, within=5.0)
    finally:
        reader.close()
        admin.dispose()


async def test_cached_reads_survive_a_dropped_connection(own_settings, own_engine):
    """Through the app: a kept answer is still given, and a fresh one after a change,
    when the connection the node reads the version over was dropped."""
    if not on_postgres():
        pytest.skip("PostgreSQL: the reader's connection is a server's backend")
    import httpx2

    from registry.app import create_app

    node = create_app(own_settings, engine=own_engine)
    admin = create_db_engine(own_settings)
    try:
        transport = httpx2.ASGITransport(app=node)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            first = await client.get("/api/v1/apps")
            assert first.status_code == 200
            reader = node.state.catalog_versions
            terminate(admin, reader._connection.dbapi_connection.info.backend_pid)
            again = await client.get("/api/v1/apps")
            assert again.status_code == 200
            assert again.content == first.content
    finally:
        viewcache.close_versions(node.state)
        admin.dispose()


async def test_through_the_app_a_commit_elsewhere_makes_the_next_reads_fresh(
    own_settings, own_engine, monkeypatch
):
    """A node as it runs, its catalog changed by another process: the kept answer is
    given while nothing changes, and the route is asked again once the change is
    seen (the notification: the periodic check is an hour away)."""
    import httpx2

    from registry.app import create_app
    from registry.catalog import service as catalog_service

    monkeypatch.setattr(viewcache, "RECHECK_SECONDS", 3600)
    calls: list[int] = []
    real = catalog_service.list_apps

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(catalog_service, "list_apps", counted)
    node = create_app(own_settings, engine=own_engine)
    try:
        transport = httpx2.ASGITransport(app=node)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(3):
                assert (await client.get("/api/v1/apps")).status_code == 200
            assert calls == [1]
            commit_elsewhere(own_settings)
            start = time.monotonic()
            while len(calls) == 1:
                assert time.monotonic() - start < 5.0, "the change was not seen in time"
                assert (await client.get("/api/v1/apps")).status_code == 200
                await asyncio.sleep(0.005)
            assert calls == [1, 1]
    finally:
        viewcache.close_versions(node.state)


def terminate(admin: sa.Engine, pid: int) -> None:
    """End a backend, as a restart of the database would, and wait until it is gone."""
    with admin.begin() as connection:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(500):
        # A transaction of its own each time: pg_stat_activity is read once per one.
        with admin.begin() as connection:
            gone = connection.execute(
                sa.text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar_one()
        if gone:
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} still there")

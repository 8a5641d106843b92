"""The catalog's version and the bounded cache kept by it (``registry.viewcache``)."""

from __future__ import annotations

import threading

from registry import viewcache


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

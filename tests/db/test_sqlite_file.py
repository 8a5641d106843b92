"""The SQLite database holds client secret hashes and private items: its file (and
the -wal and -shm files beside it) are readable by the node's user only."""

from __future__ import annotations

import os
import stat

import sqlalchemy as sa

from registry import migrate
from registry.db import create_db_engine
from registry.settings import load_settings


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_and_its_wal_files_are_0600(tmp_path):
    old_umask = os.umask(0o022)  # the usual umask, which gives 0644 files
    try:
        settings = load_settings(data_dir=tmp_path / "data", database_url=None)
        migrate.upgrade(settings)
        engine = create_db_engine(settings)
        with engine.connect() as connection:
            connection.execute(sa.text("UPDATE change_counter SET value = value"))
            connection.commit()
            database = tmp_path / "data" / "lumbung.db"
            files = [database, database.with_name("lumbung.db-wal")]
            files += [database.with_name("lumbung.db-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        engine.dispose()
    finally:
        os.umask(old_umask)


def test_a_database_left_world_readable_is_tightened(tmp_path):
    settings = load_settings(data_dir=tmp_path, database_url=None)
    migrate.upgrade(settings)
    database = tmp_path / "lumbung.db"
    database.chmod(0o644)
    create_db_engine(settings).dispose()
    assert _mode(database) == 0o600

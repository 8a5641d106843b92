"""Migrations are the only way the schema is made: they match the models and go
both ways, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from registry import migrate
from registry.db import create_db_engine
from registry.settings import Settings, load_settings
from tests.conftest import TEST_DATABASE_URL, on_postgres, reset_postgres


@pytest.fixture
def fresh_settings(tmp_path) -> Iterator[Settings]:
    """Settings for an empty database of the kind the suite runs on."""
    if not on_postgres():
        yield load_settings(data_dir=tmp_path)
        return
    assert TEST_DATABASE_URL is not None
    url = sa.make_url(TEST_DATABASE_URL)
    name = f"{url.database}_migrations"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    scratch = url.set(database=name).render_as_string(hide_password=False)
    reset_postgres(scratch)
    yield load_settings(data_dir=tmp_path, database_url=scratch)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_models_and_migrations_agree(fresh_settings):
    migrate.upgrade(fresh_settings)
    # Raises if autogenerate would find anything to add, drop or alter.
    command.check(migrate.alembic_config(fresh_settings))


def test_downgrade_to_base_and_back(fresh_settings):
    migrate.upgrade(fresh_settings)
    migrate.downgrade(fresh_settings, "base")
    engine = create_db_engine(fresh_settings)
    tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    migrate.upgrade(fresh_settings)
    assert migrate.current_revision(engine) == migrate.head_revision(fresh_settings)
    with engine.connect() as connection:
        value = connection.exec_driver_sql("SELECT value FROM change_counter").scalar_one()
    assert value == 0
    engine.dispose()

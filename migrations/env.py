"""Alembic environment: the node's own settings choose the database."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import registry.models  # noqa: F401  (registers every table on SQLModel.metadata)
from registry.db import create_db_engine
from registry.settings import Settings, load_settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("settings"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _settings() -> Settings:
    settings = config.attributes.get("settings")
    return settings if isinstance(settings, Settings) else load_settings()


def run_migrations_offline() -> None:
    context.configure(
        url=_settings().sqlalchemy_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(_settings())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave out what SQLModel cannot declare: SQLite's FTS5 search table and the
    shadow tables FTS5 keeps beside it (created by the search index migration)."""
    return not (type_ == "table" and name is not None and name.startswith("search_fts"))


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # The GIN indexes exist only on PostgreSQL (the columns are tsvectors only there).
    if type_ == "index" and name in ("ix_search_documents_vector", "ix_search_documents_head"):
        return context.get_bind().dialect.name == "postgresql"
    # Indexes on an expression, which the models do not declare (see the migrations):
    # SQLite cannot reflect one to compare it.
    return not (
        type_ == "index" and name in ("ix_search_documents_sample", "ix_search_documents_name")
    )


def _run(connection: object) -> None:
    context.configure(
        include_name=_include_name,
        include_object=_include_object,
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

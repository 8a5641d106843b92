"""PostgreSQL: a transaction that changes the catalog's version says so when it commits

A statement that writes the change counter or the peers (what the catalog's version is
read from: ``registry.viewcache.version_query``) notifies the channel
``lumbung_catalog``. PostgreSQL delivers the notification to every listening
connection once the transaction has committed, and drops it if it rolls back; several
in one transaction arrive as one. A node's reader of the version listens on it, so an
answer kept for anonymous readers costs no query while nothing changed, whichever
process wrote (``serve``, the worker, another node process on the same database).

SQLite has no notifications; its readers ask ``PRAGMA data_version`` instead.

Revision ID: 7c1e5a9d2f40
Revises: 5e1f0a9d7c22
Create Date: 2026-11-29 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7c1e5a9d2f40"
down_revision: str | None = "5e1f0a9d7c22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("change_counter", "peers")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION lumbung_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('lumbung_catalog', '');
            RETURN NULL;
        END
        $$
        """
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_catalog_changed "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION lumbung_catalog_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"DROP TRIGGER {table}_catalog_changed ON {table}")
    op.execute("DROP FUNCTION lumbung_catalog_changed()")

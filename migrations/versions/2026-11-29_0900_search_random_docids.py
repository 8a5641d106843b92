"""search index: docids drawn at random, 64-bit

A search estimates its totals and facets from the matches whose docids fall below a
bound, the smallest such range holding enough of them, and the index reads only that
range. That range is a fair sample only if docids are not in the order items were
written: they are now drawn at random from [0, 2**62) (``index.new_docids``), so
the column is 64-bit on PostgreSQL and no longer has a sequence. The expression index
of the former sample key (a scrambled docid) is no longer used.

The index is rebuilt, as a reindex would, so every row gets a random docid (on
SQLite the FTS5 rows are addressed by it too).

Revision ID: 5e1f0a9d7c22
Revises: 3b9d27e4c6a1
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5e1f0a9d7c22"
down_revision: str | None = "3b9d27e4c6a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_documents_sample", table_name="search_documents")
        op.execute("ALTER TABLE search_documents ALTER COLUMN docid DROP DEFAULT")
        op.execute("ALTER TABLE search_documents ALTER COLUMN docid TYPE bigint")
        op.execute("DROP SEQUENCE IF EXISTS search_documents_docid_seq")

    from registry.search.index import reindex

    reindex(op.get_bind())


def downgrade() -> None:
    # The earlier code numbers docids after the highest, which random ones leave no
    # room for: the index is emptied; `lumbung search reindex` fills it again.
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DELETE FROM search_fts")
        op.execute("DELETE FROM search_documents")
        return
    op.execute("DELETE FROM search_documents")
    op.execute("CREATE SEQUENCE search_documents_docid_seq OWNED BY search_documents.docid")
    op.execute("ALTER TABLE search_documents ALTER COLUMN docid TYPE integer")
    op.execute(
        "ALTER TABLE search_documents ALTER COLUMN docid "
        "SET DEFAULT nextval('search_documents_docid_seq')"
    )
    op.execute(
        "CREATE INDEX ix_search_documents_sample ON search_documents "
        "(((docid::bigint * 7919) % 10007))"
    )

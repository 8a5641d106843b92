"""search index on PostgreSQL: the name and short description's own tsvector

``search_documents.head`` holds the terms of an item's name and short description
(weights A and B, at their positions in ``vector``): small enough to stay in the row,
with its own GIN index. A match's tier is read from it, where testing ``'word':A``
against ``vector`` reads every match's whole document from TOAST (570 MB at 200,000
items). Existing rows get theirs from their ``vector`` at once (``ts_filter`` keeps
the A and B entries, positions included: the very terms a reindex would write).

The expression index on the sample key finds a common word's sample (the matches
whose scrambled docid falls below a threshold: see ``registry.search.service``), so
only the sample's documents are read, not every match's.

SQLite keeps the text in FTS5 only; the column stays empty there.

Revision ID: 3b9d27e4c6a1
Revises: c4e2a7b91d05
Create Date: 2026-11-29 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3b9d27e4c6a1"
down_revision: str | None = "c4e2a7b91d05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VECTOR = sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("search_documents") as batch:
        batch.add_column(sa.Column("head", _VECTOR, nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("UPDATE search_documents SET head = ts_filter(vector, '{a,b}')")
    op.create_index(
        "ix_search_documents_head", "search_documents", ["head"], postgresql_using="gin"
    )
    op.execute(
        "CREATE INDEX ix_search_documents_sample ON search_documents "
        "(((docid::bigint * 7919) % 10007))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_documents_sample", table_name="search_documents")
        op.drop_index("ix_search_documents_head", table_name="search_documents")
    with op.batch_alter_table("search_documents") as batch:
        batch.drop_column("head")

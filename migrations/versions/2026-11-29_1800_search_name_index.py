"""search index (PostgreSQL): a GIN index of the name alone

A match in the name is the first tier of a search. Its matches were found through
the GIN index on ``head`` (name and short description), which does not know weights:
its lists also hold the items with a word in their short description only, and each
of those was read and tested again. This index is of ``head``'s weight A alone
(``ts_filter``), so its lists hold only the names' matches. SQLite has the name as a
column of ``search_fts_head`` already: nothing changes there.

Revision ID: 3d5b8e1a7c42
Revises: 7f3a9c2e5d18
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3d5b8e1a7c42"
down_revision: str | None = "7f3a9c2e5d18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_search_documents_name ON search_documents "
            "USING gin (ts_filter(head, '{a}'))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_documents_name", table_name="search_documents")

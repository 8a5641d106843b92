"""search index: a publisher's rows with the columns visibility reads

A publisher filter (a click on a publisher facet) reads every index row of that
publisher the caller may see. The index on ``publisher_id`` alone sent each of those
rows to the table for its visibility, origin and kind (a random read apiece, the
docids being random); this one holds them, so the rows are read from the index
alone (a mirrored row's audience, which only mirrors need, still comes from the
table).

Revision ID: 7f3a9c2e5d18
Revises: 2c8e6a1f4b97
Create Date: 2026-11-29 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7f3a9c2e5d18"
down_revision: str | None = "2c8e6a1f4b97"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["publisher_id", "visibility", "origin", "kind"]


def upgrade() -> None:
    op.create_index("ix_search_documents_publisher_rows", "search_documents", COLUMNS)
    op.drop_index(op.f("ix_search_documents_publisher_id"), table_name="search_documents")


def downgrade() -> None:
    op.create_index(op.f("ix_search_documents_publisher_id"), "search_documents", ["publisher_id"])
    op.drop_index("ix_search_documents_publisher_rows", table_name="search_documents")

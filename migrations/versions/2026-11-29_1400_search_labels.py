"""search index: each label of an index row in a table of its own

``search_labels`` holds one row per label of each index row ("category:health",
"theme:SOCI", "format:CSV"), keyed by label: a filter on a category, theme or format
finds its rows by that key, where ``search_documents.labels`` (a JSON array, kept for
counting facets) could only be searched row by row. Existing rows' labels are copied
from that array.

Revision ID: 2c8e6a1f4b97
Revises: 9d4b2f7e1a63
Create Date: 2026-11-29 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2c8e6a1f4b97"
down_revision: str | None = "9d4b2f7e1a63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_labels",
        sa.Column("label", sa.String(length=600), nullable=False),
        sa.Column(
            "docid",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("label", "docid", name=op.f("pk_search_labels")),
    )
    op.create_index(op.f("ix_search_labels_docid"), "search_labels", ["docid"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "INSERT INTO search_labels (label, docid) SELECT DISTINCT l.value, d.docid "
            "FROM search_documents d, jsonb_array_elements_text(d.labels::jsonb) AS l(value)"
        )
    else:
        op.execute(
            "INSERT INTO search_labels (label, docid) SELECT DISTINCT l.value, d.docid "
            "FROM search_documents d, json_each(d.labels) AS l"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_search_labels_docid"), table_name="search_labels")
    op.drop_table("search_labels")

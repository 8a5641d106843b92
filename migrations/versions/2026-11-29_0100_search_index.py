"""search index: documents, vocabulary, and the full-text index of each database

One row per live app and dataset in ``search_documents`` (filter and facet columns;
on PostgreSQL the weighted ``tsvector`` with a GIN index), the FTS5 table
``search_fts`` on SQLite (a virtual table: SQLModel cannot declare it, and
``alembic check`` is told to skip it), and the vocabulary ``search_terms`` for
spelling suggestions. The index is filled from the catalog at once, so a node that
upgrades finds its items straight away.

Revision ID: 5e4c1d2a9b70
Revises: c54bca1e80b1
Create Date: 2026-11-29 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5e4c1d2a9b70"
down_revision: str | None = "c54bca1e80b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
_VECTOR = sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("docid", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("publisher_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=2048), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum(
                "public", "partners", "private", name="visibility", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("audience", _JSON, nullable=True),
        sa.Column("license", sa.String(length=500), nullable=True),
        sa.Column("development_status", sa.String(length=32), nullable=True),
        sa.Column("spbe_class", sa.String(length=16), nullable=True),
        sa.Column("labels", sa.String(), nullable=False),
        sa.Column("vector", _VECTOR, nullable=True),
        sa.PrimaryKeyConstraint("docid", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("item_id", name=op.f("uq_search_documents_item_id")),
    )
    op.create_index(op.f("ix_search_documents_publisher_id"), "search_documents", ["publisher_id"])
    op.create_table(
        "search_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("docs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_search_terms")),
    )
    op.create_table(
        "search_glossary",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("indonesian", sa.String(length=500), nullable=False),
        sa.Column("english", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_glossary")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_search_documents_vector", "search_documents", ["vector"], postgresql_using="gin"
        )
    else:
        # The text columns hold terms analysed in Python (registry/search/analysis.py),
        # one space apart; unicode61 only splits them again on those spaces.
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "name, summary, body, extra, tokenize = 'unicode61 remove_diacritics 0', "
            "prefix = '3')"
        )

    from registry.search.index import reindex

    reindex(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_documents_vector", table_name="search_documents")
    else:
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_glossary")
    op.drop_table("search_terms")
    op.drop_index(op.f("ix_search_documents_publisher_id"), table_name="search_documents")
    op.drop_table("search_documents")

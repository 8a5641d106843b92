"""Tables of the search index.

``search_documents`` holds one row per live app and dataset that this node can
serve (local or mirrored): the columns that visibility, filters and facets read,
copied from the item so a search reads one table, plus, on PostgreSQL, the item's
weighted ``tsvector`` and that of its name and short description alone (``head``).
On SQLite the text lives in the FTS5 table ``search_fts``, and the name and short
description again in ``search_fts_head`` (the counterpart of ``head``), both created
by migrations, since SQLModel cannot declare a virtual table; their rowid is
``docid``.

``search_terms`` is the vocabulary: every word indexed, with roughly how many
items use it, for correcting a mistyped query word.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from registry.catalog.models import Visibility
from registry.db import table_of
from registry.tables import NULLABLE_JSON, enum_column

# Virtual and shadow tables that only SQLite has, unknown to the metadata; Alembic's
# comparison skips them (see migrations/env.py).
FTS_TABLE = "search_fts"
HEAD_FTS_TABLE = "search_fts_head"
FTS_TABLES = (FTS_TABLE, HEAD_FTS_TABLE)
# Their columns and options, as their migrations created them: a reindex creates
# them again. The columns hold terms analysed in Python (registry/search/analysis.py),
# one space apart; unicode61 only splits them again on those spaces.
FTS_COLUMNS = {FTS_TABLE: ("name", "summary", "body", "extra"), HEAD_FTS_TABLE: ("name", "summary")}
FTS_OPTIONS = "tokenize = 'unicode61 remove_diacritics 0', prefix = '3'"


def fts_definition(table: str) -> str:
    """The statement that creates the FTS5 table ``table``."""
    return (
        f"CREATE VIRTUAL TABLE {table} USING fts5({', '.join(FTS_COLUMNS[table])}, {FTS_OPTIONS})"
    )


class SearchDocument(SQLModel, table=True):
    __tablename__ = "search_documents"

    # An integer key: FTS5 addresses its rows by an integer rowid. Drawn at random
    # (``index.new_docids``), never by the database: 64 bits (SQLite's INTEGER is).
    docid: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa_column_kwargs={"autoincrement": False},
    )
    item_id: uuid.UUID = Field(unique=True)
    kind: str = Field(max_length=8)
    publisher_id: uuid.UUID
    origin: str | None = Field(default=None, max_length=2048)
    visibility: Visibility = Field(sa_type=enum_column(Visibility))
    audience: list[str] | None = Field(default=None, sa_type=NULLABLE_JSON)
    license: str | None = Field(default=None, max_length=500)
    development_status: str | None = Field(default=None, max_length=32)
    spbe_class: str | None = Field(default=None, max_length=16)
    # Multi-valued facets as a JSON array of "dimension:value" ("category:health",
    # "theme:SOCI", "format:CSV"), counted from the sample in Python; filtered on
    # through ``search_labels``, which holds each of them in a row of its own.
    labels: str = Field(default="[]")
    vector: str | None = Field(
        default=None, sa_type=sa.Text().with_variant(TSVECTOR(), "postgresql")
    )
    # PostgreSQL: the name and short description alone (weights A and B, at the same
    # positions as in ``vector``), small enough to stay in the row: a match's tier is
    # read from it, not from the whole document stored out of line.
    head: str | None = Field(default=None, sa_type=sa.Text().with_variant(TSVECTOR(), "postgresql"))

    __table_args__ = (
        # A publisher's rows with what visibility and the kind filter read: a
        # publisher filter reads its rows from the index alone.
        sa.Index(
            "ix_search_documents_publisher_rows", "publisher_id", "visibility", "origin", "kind"
        ),
        sa.Index(
            "ix_search_documents_vector",
            "vector",
            postgresql_using="gin",
            # Only PostgreSQL has the column as a tsvector to index.
        ).ddl_if(dialect="postgresql"),
        sa.Index("ix_search_documents_head", "head", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )


# PostgreSQL: the name alone, as ``head``'s weight A. Its GIN index (created by the
# migration ``search_name_index``: the models cannot declare an index on an expression
# that SQLite then ignores) lists only the items with a word in their name, where
# ``head``'s lists also hold those with it in the short description, each read and
# tested again for its weight. The expression must be the index's, word for word.
NAME_VECTOR = sa.func.ts_filter(table_of(SearchDocument).c.head, sa.literal_column("'{a}'"))


class SearchLabel(SQLModel, table=True):
    """Each of an index row's ``labels``, one row apiece: a filter on a category,
    theme or format finds the rows that have it through this table's key, where the
    JSON array can only be searched row by row."""

    __tablename__ = "search_labels"

    label: str = Field(primary_key=True, max_length=600)
    docid: int = Field(
        primary_key=True,
        index=True,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa_column_kwargs={"autoincrement": False},
    )


class SearchTerm(SQLModel, table=True):
    __tablename__ = "search_terms"

    term: str = Field(primary_key=True, max_length=64)
    docs: int = Field(default=0)

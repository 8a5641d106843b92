"""search index on SQLite: the name and short description's own FTS5 table

``search_fts_head`` holds the name and short description of each item again, as
PostgreSQL's ``head`` column does: the matches of the first two tiers (a match in
the name; in the name and short description) are read and ranked there, walking
lists that hold only those fields, where in ``search_fts`` they run through every
long description that uses the word. Existing rows are copied from ``search_fts``,
which stores the same analysed text.

PostgreSQL has ``head`` already; nothing changes there.

Revision ID: 9d4b2f7e1a63
Revises: 7c1e5a9d2f40
Create Date: 2026-11-29 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9d4b2f7e1a63"
down_revision: str | None = "7c1e5a9d2f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE search_fts_head USING fts5("
        "name, summary, tokenize = 'unicode61 remove_diacritics 0', prefix = '3')"
    )
    op.execute(
        "INSERT INTO search_fts_head (rowid, name, summary) "
        "SELECT rowid, name, summary FROM search_fts"
    )
    op.execute("INSERT INTO search_fts_head(search_fts_head) VALUES ('optimize')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts_head")

"""feed index: (origin, change_seq) on every fed table

The change feed reads local rows (``origin IS NULL``) by a range of ``change_seq``.
With only single-column indexes, SQLite picks the ``origin`` one, which matches every
local row, and sorts them all for each page: a full sync then costs the square of
the catalog's size. The pair serves the feed's range scan in order, and replaces the
``origin`` index, which is its prefix.

Revision ID: e277fb5cf50b
Revises: 95fe13a28e3f
Create Date: 2026-11-28 00:58:27.808709
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e277fb5cf50b"
down_revision: str | None = "95fe13a28e3f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("publishers", "apps", "releases", "datasets", "distributions", "adoptions")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_origin_change_seq", table, ["origin", "change_seq"])
        op.drop_index(f"ix_{table}_origin", table_name=table)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_origin", table, ["origin"])
        op.drop_index(f"ix_{table}_origin_change_seq", table_name=table)

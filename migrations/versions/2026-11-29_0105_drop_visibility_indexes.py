"""drop the visibility indexes of apps and datasets

A list (``ORDER BY id LIMIT n``, filtered by visibility) should walk the primary key
and stop after ``n`` rows. SQLite, without statistics, preferred the visibility index
(an equality match looks selective to it), read every public row and sorted them all:
2.8 ms at 4,000 apps, growing with the catalog, against 0.02 ms by the primary key.
Three values cannot make a useful index on PostgreSQL either.

Revision ID: 8a3f60c2d415
Revises: 5e4c1d2a9b70
Create Date: 2026-11-29 01:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8a3f60c2d415"
down_revision: str | None = "5e4c1d2a9b70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_apps_visibility", table_name="apps")
    op.drop_index("ix_datasets_visibility", table_name="datasets")


def downgrade() -> None:
    op.create_index("ix_datasets_visibility", "datasets", ["visibility"])
    op.create_index("ix_apps_visibility", "apps", ["visibility"])

"""exposures: who could ever see each fed item

The change feed sends a tombstone only to readers an item was exposed to (see
``registry.sharing.models.Exposure``). Rows written from now on record their
exposures as they change. For rows that exist already nothing tells who once saw
them, so each gets ``*`` (everyone): a mirror that once held an item keeps getting
its tombstone, and only items created after this revision are hidden from readers
that never could see them.

Revision ID: 5d2c9a41e0b7
Revises: e277fb5cf50b
Create Date: 2026-11-29 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "5d2c9a41e0b7"
down_revision: str | None = "e277fb5cf50b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FED = ("apps", "releases", "datasets", "distributions", "adoptions")


def upgrade() -> None:
    op.create_table(
        "exposures",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("reader", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "reader", name=op.f("pk_exposures")),
    )
    for table in FED:
        op.execute(
            f"INSERT INTO exposures (item_id, reader) "
            f"SELECT id, '*' FROM {table} WHERE origin IS NULL"
        )


def downgrade() -> None:
    op.drop_table("exposures")

"""apps: the imported publiccode.yml document, and SPBE reference-architecture codes

``publiccode`` holds the normalised publiccode.yml an app was imported from, so an
export gives back every key the catalog has no column for. ``raa_codes`` lists the
app's codes in the national SPBE reference architecture for applications.

Revision ID: d0c54dd9aaa4
Revises: 5d2c9a41e0b7
Create Date: 2026-11-29 00:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d0c54dd9aaa4"
down_revision: str | None = "5d2c9a41e0b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing apps get an empty list; a constant default needs no table rebuild.
    op.add_column(
        "apps",
        sa.Column(
            "raa_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            server_default=sa.text("'[]'"),
        ),
    )
    op.add_column(
        "apps",
        sa.Column(
            "publiccode",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("publiccode")
        batch_op.drop_column("raa_codes")

"""outbox: a notice the peer keeps refusing is given up

A peer that answers a notice with a refusal (a 4xx other than 429) was asked again
every hour, for ever. After ``GIVE_UP_AFTER`` such answers the notice is marked
refused; ``lumbung peers list`` counts them per peer.

Revision ID: c4e2a7b91d05
Revises: 8a3f60c2d415
Create Date: 2026-11-29 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import registry.db

revision: str = "c4e2a7b91d05"
down_revision: str | None = "8a3f60c2d415"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("federation_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refused_at", registry.db.AwareDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("federation_outbox", schema=None) as batch_op:
        batch_op.drop_column("refused_at")

"""CKAN harvesting: the portals publishers attach, what each package became, run reports

``harvest_records`` keeps each CKAN package's id with the dataset it became and
its resources' ids with their distributions, so a re-harvest updates in place.

Revision ID: c54bca1e80b1
Revises: d0c54dd9aaa4
Create Date: 2026-11-29 00:06:38.166251
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import registry.db

revision: str = "c54bca1e80b1"
down_revision: str | None = "d0c54dd9aaa4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "harvest_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("publisher_id", sa.Uuid(), nullable=False),
        sa.Column("ckan_url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
        sa.Column("organization", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", registry.db.AwareDateTime(timezone=True), nullable=False),
        sa.Column("high_water", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("last_run_at", registry.db.AwareDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", registry.db.AwareDateTime(timezone=True), nullable=True),
        sa.Column("last_full_at", registry.db.AwareDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("lease_holder", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("lease_until", registry.db.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["publishers.id"],
            name=op.f("fk_harvest_sources_publisher_id_publishers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvest_sources")),
        sa.UniqueConstraint(
            "publisher_id",
            "ckan_url",
            "organization",
            name=op.f("uq_harvest_sources_publisher_id_ckan_url_organization"),
        ),
    )
    with op.batch_alter_table("harvest_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_harvest_sources_publisher_id"), ["publisher_id"], unique=False
        )

    op.create_table(
        "harvest_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("ckan_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("metadata_modified", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column(
            "resources",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_harvest_records_dataset_id_datasets")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["harvest_sources.id"],
            name=op.f("fk_harvest_records_source_id_harvest_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvest_records")),
        sa.UniqueConstraint(
            "source_id", "ckan_id", name=op.f("uq_harvest_records_source_id_ckan_id")
        ),
    )
    with op.batch_alter_table("harvest_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_harvest_records_dataset_id"), ["dataset_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_harvest_records_source_id"), ["source_id"], unique=False
        )

    op.create_table(
        "harvest_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", registry.db.AwareDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", registry.db.AwareDateTime(timezone=True), nullable=True),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column(
            "errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["harvest_sources.id"],
            name=op.f("fk_harvest_runs_source_id_harvest_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvest_runs")),
    )
    with op.batch_alter_table("harvest_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_harvest_runs_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("harvest_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_harvest_runs_source_id"))

    op.drop_table("harvest_runs")
    with op.batch_alter_table("harvest_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_harvest_records_source_id"))
        batch_op.drop_index(batch_op.f("ix_harvest_records_dataset_id"))

    op.drop_table("harvest_records")
    with op.batch_alter_table("harvest_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_harvest_sources_publisher_id"))

    op.drop_table("harvest_sources")

"""Migration of running instances: the migrations and their per-instance progress

- migrations: a run moving a process's instances from one version to another.
- migration_items: each instance's progress in it (pending, migrated, left_out, skipped),
  changed in the transaction that migrates the instance, so a resumed run skips it.

Revision ID: 0017
Revises: 0024
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import services.persistence.models

revision = "0017"
down_revision = "0024"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "migrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("mapping", _JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", services.persistence.models.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("finished_at", services.persistence.models.UTCDateTime(timezone=True),
                  nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_migrations_process_key", "migrations", ["process_key"])
    op.create_table(
        "migration_items",
        sa.Column("migration_id", sa.Integer(), nullable=False),
        sa.Column("process_instance_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", services.persistence.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["migration_id"], ["migrations.id"]),
        sa.ForeignKeyConstraint(["process_instance_id"], ["process_instances.id"]),
        sa.PrimaryKeyConstraint("migration_id", "process_instance_id"),
    )
    op.create_index("ix_migration_items_status", "migration_items",
                    ["migration_id", "status", "process_instance_id"])


def downgrade() -> None:
    op.drop_table("migration_items")
    op.drop_table("migrations")

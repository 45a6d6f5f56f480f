"""Archiving finished instances

- process_instances.archived_at: when the instance's working rows left the live tables.
- archived_instances: one row per archived instance holding, as one JSON document, its
  engine state and every row that hung off it (tasks, their history, comments,
  candidates, follow-ups and escalations, timers, subscriptions, external tasks,
  incidents). The ledger (task_events, instance_actions) stays where payroll reads it.

Revision ID: 0025
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import services.persistence.models

revision = "0025"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_instances") as batch_op:
        batch_op.add_column(sa.Column("archived_at",
                                      services.persistence.models.UTCDateTime(timezone=True),
                                      nullable=True))
    op.create_table(
        "archived_instances",
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("process_instances.id"),
                  primary_key=True),
        sa.Column("archived_at", services.persistence.models.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("archived_by", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("archived_instances")
    with op.batch_alter_table("process_instances") as batch_op:
        batch_op.drop_column("archived_at")

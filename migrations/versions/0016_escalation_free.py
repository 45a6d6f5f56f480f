"""Escalations in pay: whether a completed task had been escalated

- tasks.escalated_at: when the task was first escalated to a head.
- task_events.escalated: whether the completed task had been escalated, recorded with the
  completion (events never change), for the escalation_free_rate metric.

Revision ID: 0016
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

import services.persistence.models

revision = "0016"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("escalated_at",
                                      services.persistence.models.UTCDateTime(timezone=True),
                                      nullable=True))
    # A plain ADD COLUMN: task_events' append-only triggers stay as they are.
    op.add_column("task_events", sa.Column("escalated", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("task_events", "escalated")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("escalated_at")

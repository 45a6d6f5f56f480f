"""External tasks: work a worker system outside DutyFlow fetches, locks and completes

- external_tasks: the service tasks that wait for a worker (camunda:type="external",
  zeebe:taskDefinition, or a Java delegate DutyFlow cannot run), mirrored after every
  step like tasks and timers, with the lock, retries and last error a worker reports.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

import services.persistence.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TIME = services.persistence.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "external_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("process_instance_id", sa.Integer(), sa.ForeignKey("process_instances.id"),
                  nullable=False, index=True),
        sa.Column("process_key", sa.String(200), nullable=False),
        sa.Column("element_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("worker_id", sa.String(200)),
        sa.Column("lock_expires_at", _TIME(timezone=True)),
        sa.Column("retries", sa.Integer()),
        sa.Column("retry_at", _TIME(timezone=True)),
        sa.Column("error_message", sa.Text()),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.Column("completed_at", _TIME(timezone=True)),
    )
    op.create_index("ix_external_tasks_topic", "external_tasks", ["topic", "status"])


def downgrade() -> None:
    op.drop_index("ix_external_tasks_topic", "external_tasks")
    op.drop_table("external_tasks")

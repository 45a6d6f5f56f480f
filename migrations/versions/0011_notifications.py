"""Notifications: the outbox, its deliveries, people's channel choices

- employees.email, employees.locale and departments.notify (webhook and robot URLs with
  their secrets) come from the org file.
- notifications: one row per person told about something, written in the same
  transaction as the step that caused it; the in-app list and its unread count.
- deliveries: one row per message to a channel target (email address, department webhook
  or robot) with its stable id, status, attempts, next attempt and the claiming worker's
  lease.
- notification_settings: each person's channels and whether they hear of their
  department's new tasks.
- task_follow_ups: when a ready task is due a reminder and its next escalation;
  escalations: each escalation made (the department, its head who was told, when).

Revision ID: 0011
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import services.persistence.models

revision = "0011"
down_revision = "0013"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TIME = services.persistence.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("employees") as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("locale", sa.String(length=10), nullable=True))
    with op.batch_alter_table("departments") as batch_op:
        batch_op.add_column(sa.Column("notify", _JSON, nullable=True))
        batch_op.add_column(sa.Column("remind_after", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("escalate_after", sa.String(length=40), nullable=True))

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("process_instance_id", sa.Integer(), nullable=True),
        sa.Column("payroll_run_id", sa.Integer(), nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("read_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notifications_recipient", "notifications", ["recipient", "id"])
    op.create_index("ix_notifications_unread", "notifications", ["recipient", "read_at"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_notification_id", "deliveries", ["notification_id"])

    op.create_table(
        "notification_settings",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("app", sa.Boolean(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("department_tasks", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )

    op.create_table(
        "task_follow_ups",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("remind_at", _TIME, nullable=True),
        sa.Column("escalate_at", _TIME, nullable=True),
        sa.Column("escalate_after", sa.String(length=40), nullable=True),
        sa.Column("next_department", sa.String(length=64), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index("ix_task_follow_ups_remind_at", "task_follow_ups", ["remind_at"])
    op.create_index("ix_task_follow_ups_escalate_at", "task_follow_ups", ["escalate_at"])
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("department_key", sa.String(length=64), nullable=False),
        sa.Column("notified", sa.String(length=64), nullable=True),
        sa.Column("at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_escalations_task_id", "escalations", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_escalations_task_id", table_name="escalations")
    op.drop_table("escalations")
    op.drop_index("ix_task_follow_ups_escalate_at", table_name="task_follow_ups")
    op.drop_index("ix_task_follow_ups_remind_at", table_name="task_follow_ups")
    op.drop_table("task_follow_ups")
    op.drop_table("notification_settings")
    op.drop_index("ix_deliveries_notification_id", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_notifications_unread", table_name="notifications")
    op.drop_index("ix_notifications_recipient", table_name="notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("departments") as batch_op:
        batch_op.drop_column("escalate_after")
        batch_op.drop_column("remind_after")
        batch_op.drop_column("notify")
    with op.batch_alter_table("employees") as batch_op:
        batch_op.drop_column("locale")
        batch_op.drop_column("email")

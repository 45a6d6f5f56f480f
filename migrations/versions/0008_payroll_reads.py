"""Payroll reads: handling time and on-time stored with events; due tasks' index has assignee

Payroll aggregates a month of events per person. Computed in the query, the handling
time meant parsing two timestamps in every row, and the on-time check carried both
timestamps through the GROUP BY's sort (on SQLite each cost about a sixth of the whole
aggregation). Events never change, so values written with the event never go stale:
new events get them from the model's column defaults; existing ones are filled in here,
with the append-only triggers lifted for that one UPDATE. PostgreSQL then makes
handling_seconds NOT NULL; SQLite cannot add that constraint to an existing table.

completion_rate groups the tasks due in a period by assignee: with the assignee as the
last column of ix_tasks_due_cover (0006), it reads the index alone. The reports that
index was built for read it as before.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DUE_COVER = ["due_at", "department_key", "status", "completed_at"]


def upgrade() -> None:
    op.add_column("task_events", sa.Column("handling_seconds", sa.Integer(), nullable=True))
    op.add_column("task_events", sa.Column("on_time", sa.Boolean(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE task_events DISABLE TRIGGER task_events_no_change")
        op.execute("UPDATE task_events SET on_time = completed_at <= due_at, handling_seconds = "
                   "floor(extract(epoch FROM completed_at)) - floor(extract(epoch FROM ready_at))")
        op.execute("ALTER TABLE task_events ENABLE TRIGGER task_events_no_change")
        op.alter_column("task_events", "handling_seconds", nullable=False)
    else:
        op.execute("DROP TRIGGER task_events_no_update")
        op.execute("UPDATE task_events SET on_time = completed_at <= due_at, handling_seconds = "
                   "strftime('%s', completed_at) - strftime('%s', ready_at)")
        op.execute("""CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events
                      BEGIN SELECT RAISE(ABORT, 'task events are immutable'); END""")
    op.drop_index("ix_tasks_due_cover", table_name="tasks")
    op.create_index("ix_tasks_due_cover", "tasks", [*DUE_COVER, "assignee"])


def downgrade() -> None:
    op.drop_index("ix_tasks_due_cover", table_name="tasks")
    op.create_index("ix_tasks_due_cover", "tasks", DUE_COVER)
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy of the table would lose its triggers.
    op.drop_column("task_events", "on_time")
    op.drop_column("task_events", "handling_seconds")

"""Covering indexes for the dashboard, reports and the duty matrix

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = {
    # reports.trend and department_ranking: completions in a time range, by department
    "ix_task_events_kind_time_cover": "task_events (kind, completed_at, department_key, due_at)",
    # org_queries.duty_matrix: who did which step
    "ix_task_events_duty_matrix": "task_events (process_key, element_id, actor_department_key)",
    # department_ranking: tasks due in a period
    "ix_tasks_due_cover": "tasks (due_at, department_key, status, completed_at)",
}


def upgrade() -> None:
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {target}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")

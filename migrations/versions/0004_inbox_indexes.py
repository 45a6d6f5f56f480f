"""Inbox indexes in the exact order the inbox query reads them

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (due_at IS NULL) first puts tasks without a deadline last, as the inbox sorts them;
# expression indexes are the same DDL on SQLite and PostgreSQL.
INDEXES = {
    "ix_tasks_inbox_due": "status, department_key, (due_at IS NULL), due_at, id",
    "ix_tasks_inbox_process_due": "status, department_key, process_key, (due_at IS NULL), due_at, id",
    "ix_tasks_assignee_due": "assignee, status, (due_at IS NULL), due_at, id",
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON tasks ({columns})")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")

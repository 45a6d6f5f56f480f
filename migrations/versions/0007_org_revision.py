"""The org's revision token, and one redundant task index fewer

Every step that creates a task routes its lane to a department. The routing table is
cached per org revision: a token the org import replaces, read with the step's own
first query, so a step needs no query of its own for routing.

ix_tasks_assignee (assignee, status) is a prefix of ix_tasks_assignee_due (0004), which
serves every query the shorter one did; dropping it saves index work on every task
insert and status change.

Revision ID: 0007
Revises: 0006
"""
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "org_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_org_revision_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "token": uuid.uuid4().hex}])
    op.drop_index("ix_tasks_assignee", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_assignee", "tasks", ["assignee", "status"])
    op.drop_table("org_revision")

"""Routing to persons: candidate users, task history, absences, on_behalf_of

- tasks.candidate_users: camunda:candidateUsers as resolved when the task became ready;
  task_candidates mirrors it one row per person for the inbox query.
- task_history: transfers and assignments of a task, with who, when and why.
- absences: a person away and their substitute, one row per person.
- task_events.on_behalf_of: the absent person whose task a substitute completed. Added
  with plain ADD COLUMN (no table rebuild), so the append-only triggers stay in place.

Revision ID: 0013
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import services.persistence.models

revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TIME = services.persistence.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("tasks", sa.Column("candidate_users", _JSON, nullable=False,
                                     server_default="[]"))
    op.add_column("task_events", sa.Column("on_behalf_of", sa.String(length=64), nullable=True))
    op.create_table(
        "task_candidates",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.PrimaryKeyConstraint("task_id", "username"))
    op.create_index("ix_task_candidates_username", "task_candidates", ["username"])
    op.create_table(
        "task_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_username", sa.String(length=64), nullable=True),
        sa.Column("to_username", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_task_history_task_id", "task_history", ["task_id"])
    op.create_table(
        "absences",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.Column("substitute", sa.String(length=64), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("username"))
    op.create_index("ix_absences_substitute", "absences", ["substitute"])


def downgrade() -> None:
    op.drop_index("ix_absences_substitute", table_name="absences")
    op.drop_table("absences")
    op.drop_index("ix_task_history_task_id", table_name="task_history")
    op.drop_table("task_history")
    op.drop_index("ix_task_candidates_username", table_name="task_candidates")
    op.drop_table("task_candidates")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("candidate_users")
    op.drop_column("task_events", "on_behalf_of")

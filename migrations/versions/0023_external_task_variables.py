"""External tasks: a task's own variables over the process data

- external_tasks.local_variables: for one instance of a multi-instance service task, its
  item under the element variable and its loopCounter, given to the worker that fetches
  it together with the process data.

Revision ID: 0023
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0023"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("external_tasks", sa.Column(
        "local_variables", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True))


def downgrade() -> None:
    op.drop_column("external_tasks", "local_variables")

"""Local variables of tasks

- tasks.local_data: the task's local variables as it became ready (its input parameters,
  camunda:inputOutput / zeebe:ioMapping), shown with the task and prefilling its form.

Revision ID: 0021
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0021"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("local_data", sa.JSON().with_variant(JSONB(), "postgresql"),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("local_data")

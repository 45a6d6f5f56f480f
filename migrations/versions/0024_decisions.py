"""DMN decisions deployed with a diagram

- process_definitions.dmn_files: the DMN files deployed together with the version (a JSON
  list of {"filename", "xml"}), from which its business rule tasks' decisions are compiled;
  null when none were.

Revision ID: 0024
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.add_column(sa.Column("dmn_files", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.drop_column("dmn_files")

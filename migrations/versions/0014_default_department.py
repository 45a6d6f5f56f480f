"""Deploy option: the department that owns user tasks naming no owner

- process_definitions.default_department: diagrams from other tools often draw no lanes
  and name no candidate groups; a deploy may name the department that owns such tasks.

Revision ID: 0014
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.add_column(sa.Column("default_department", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.drop_column("default_department")

"""Camunda Forms deployed with a diagram

- process_definitions.form_files: the `.form` files (form-js JSON schemas) deployed together
  with the version (a JSON list of {"filename", "json"}), from which its user tasks' and
  start events' Camunda Forms are read; null when none were.

Revision ID: 0022
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.add_column(sa.Column("form_files", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.drop_column("form_files")

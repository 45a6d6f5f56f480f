"""Org changes by time: a payroll run reads the employee changes made since its period ended

services.org.roster undoes the org imports' changes made after a period's end to pay the
month as the org stood then; without this index each run would scan every field change
every import ever recorded.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_org_changes_entity_time", "org_changes", ["entity", "changed_at"])


def downgrade() -> None:
    op.drop_index("ix_org_changes_entity_time", table_name="org_changes")

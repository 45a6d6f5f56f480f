"""Corrections index made partial: only correction events carry corrects_event_id

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_task_events_corrects")
    op.execute("CREATE INDEX ix_task_events_corrects ON task_events (corrects_event_id) "
               "WHERE kind = 'correction'")


def downgrade() -> None:
    op.execute("DROP INDEX ix_task_events_corrects")
    op.execute("CREATE INDEX ix_task_events_corrects ON task_events (corrects_event_id)")

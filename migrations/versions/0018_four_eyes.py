"""Four eyes on pay: who prepared a payroll run, who approved or rejected it

- payroll_runs.prepared_by / prepared_at: who calculated the run last (created or
  recalculated it); a recalculation clears any approval.
- payroll_runs.approved_by / approved_at: the second HR user who approved it; a run is
  finalised only once approved.
- payroll_runs.rejected_by / rejected_at / rejection_reason: the last rejection, until the
  run is recalculated or approved.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

import services.persistence.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

WHEN = ("prepared_at", "approved_at", "rejected_at")
WHO = ("prepared_by", "approved_by", "rejected_by")


def upgrade() -> None:
    with op.batch_alter_table("payroll_runs") as batch_op:
        for name in WHO:
            batch_op.add_column(sa.Column(name, sa.String(64), nullable=True))
        for name in WHEN:
            batch_op.add_column(sa.Column(
                name, services.persistence.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rejection_reason", sa.Text(), nullable=True))
    # Runs made before: their creator prepared them.
    op.execute("UPDATE payroll_runs SET prepared_by = created_by, prepared_at = calculated_at")


def downgrade() -> None:
    with op.batch_alter_table("payroll_runs") as batch_op:
        for name in (*WHO, *WHEN, "rejection_reason"):
            batch_op.drop_column(name)

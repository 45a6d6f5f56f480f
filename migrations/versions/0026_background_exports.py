"""Payroll exports as background jobs, and job failures counted for /metrics

- payroll_exports: one row per export asked for (run, format, who, status); the file is
  stored in the row when the job made it, in the transaction that marks it ready.
- job_failures: per background job name, how often it raised, when last and why: the
  Celery workers serve no HTTP, so /metrics reads this table at scrape time.

Revision ID: 0026
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

import services.persistence.models

revision = "0026"
down_revision = "0021"
branch_labels = None
depends_on = None

_TIME = services.persistence.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payroll_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payroll_runs.id"), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payroll_exports_run_id", "payroll_exports", ["run_id"])
    op.create_table(
        "job_failures",
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("last_failed_at", _TIME, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job"),
    )


def downgrade() -> None:
    op.drop_table("job_failures")
    op.drop_index("ix_payroll_exports_run_id", table_name="payroll_exports")
    op.drop_table("payroll_exports")

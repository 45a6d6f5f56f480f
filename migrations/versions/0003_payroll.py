"""Payroll: KPI schemes, runs, lines, adjustments, audit; corrections on task events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:08:14.904821
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.persistence.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', services.persistence.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('entity_key', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('old', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('new', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_entity_key'), ['entity_key'], unique=False)

    op.create_table('kpi_schemes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_key', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', services.persistence.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('department_key', 'version')
    )
    with op.batch_alter_table('kpi_schemes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kpi_schemes_department_key'), ['department_key'], unique=False)

    op.create_table('payroll_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', services.persistence.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('calculated_at', services.persistence.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finalized_at', services.persistence.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finalized_by', sa.String(length=64), nullable=True),
    sa.Column('scheme_versions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payroll_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payroll_runs_period'), ['period'], unique=False)

    op.create_table('payroll_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('source_period', sa.String(length=7), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['payroll_runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payroll_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payroll_adjustments_run_id'), ['run_id'], unique=False)

    op.create_table('payroll_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('department_key', sa.String(length=64), nullable=False),
    sa.Column('scheme_version', sa.Integer(), nullable=True),
    sa.Column('base_salary', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('bonus_base', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('kpi_score', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('bonus', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('adjustments', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('gross', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('indicators', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('flags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['payroll_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'username')
    )
    with op.batch_alter_table('payroll_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payroll_lines_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('task_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_at', services.persistence.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recorded_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
    op.create_index('ix_task_events_completed_at', 'task_events', ['completed_at'])
    op.create_index('ix_task_events_corrects', 'task_events', ['corrects_event_id'])



def downgrade() -> None:
    with op.batch_alter_table('task_events', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('recorded_by')
        batch_op.drop_column('recorded_at')

    with op.batch_alter_table('payroll_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payroll_lines_run_id'))

    op.drop_table('payroll_lines')
    with op.batch_alter_table('payroll_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payroll_adjustments_run_id'))

    op.drop_table('payroll_adjustments')
    with op.batch_alter_table('payroll_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payroll_runs_period'))

    op.drop_table('payroll_runs')
    with op.batch_alter_table('kpi_schemes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kpi_schemes_department_key'))

    op.drop_table('kpi_schemes')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_entity_key'))

    op.drop_table('audit_entries')

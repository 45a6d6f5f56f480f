"""Call activities across files: child instances linked to their caller

- process_definitions.deployment_id: the versions deployed together share it, so a call
  activity with `camunda:calledElementBinding="deployment"` finds its sibling.
- process_instances.parent_instance_id, parent_task_id, parent_element_id: a child
  instance started by a call activity (engine.calls) names its caller, the call's task
  and element; the caller's page lists its children by them.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.add_column(sa.Column("deployment_id", sa.String(36), nullable=True))
    with op.batch_alter_table("process_instances") as batch_op:
        batch_op.add_column(sa.Column("parent_instance_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("parent_task_id", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("parent_element_id", sa.String(200), nullable=True))
        batch_op.create_foreign_key("fk_process_instances_parent", "process_instances",
                                    ["parent_instance_id"], ["id"])
        batch_op.create_index("ix_process_instances_parent_instance_id",
                              ["parent_instance_id"])


def downgrade() -> None:
    with op.batch_alter_table("process_instances") as batch_op:
        batch_op.drop_index("ix_process_instances_parent_instance_id")
        batch_op.drop_constraint("fk_process_instances_parent", type_="foreignkey")
        batch_op.drop_column("parent_element_id")
        batch_op.drop_column("parent_task_id")
        batch_op.drop_column("parent_instance_id")
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.drop_column("deployment_id")

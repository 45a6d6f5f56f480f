"""Instance lifecycle: the instance_actions log (append-only), message subscriptions

- instance_actions: withdrawals, cancellations, suspensions, resumptions, data fixes,
  retries, moves, messages and signals, each with who, when, why and its details. Like
  task events, the database refuses UPDATE and DELETE on them.
- event_subscriptions: what each instance waits for by message or signal name.
- sent_messages: the answer to a message sent with a message_id, replayed on a resend.

Revision ID: 0012
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import services.persistence.models

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "instance_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_instance_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status_before", sa.String(length=20), nullable=False),
        sa.Column("status_after", sa.String(length=20), nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("at", services.persistence.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["process_instance_id"], ["process_instances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_instance_actions_instance", "instance_actions",
                    ["process_instance_id", "id"])
    op.create_table(
        "event_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("process_instance_id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["process_instance_id"], ["process_instances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_subscriptions_name", "event_subscriptions", ["kind", "name"])
    op.create_index("ix_event_subscriptions_process_instance_id", "event_subscriptions",
                    ["process_instance_id"])
    op.create_table(
        "sent_messages",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("answer", _JSON, nullable=False),
        sa.Column("created_at", services.persistence.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender", "message_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION instance_actions_immutable() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'instance actions are immutable'; END $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER instance_actions_no_change
                      BEFORE UPDATE OR DELETE ON instance_actions
                      FOR EACH ROW EXECUTE FUNCTION instance_actions_immutable()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER instance_actions_no_{action.lower()}
                           BEFORE {action} ON instance_actions
                           BEGIN SELECT RAISE(ABORT, 'instance actions are immutable'); END""")


def downgrade() -> None:
    op.drop_table("sent_messages")
    op.drop_table("event_subscriptions")
    op.drop_index("ix_instance_actions_instance", table_name="instance_actions")
    op.drop_table("instance_actions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS instance_actions_immutable()")

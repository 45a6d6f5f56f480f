"""Hardening: credential versions, idempotent completions, incidents

- employees.credential_version: bearer tokens and page sessions carry the version they
  were issued under; a password change or a sign-out bumps it, and older ones stop working.
- idempotency_keys: the first answer to a completion sent with an `Idempotency-Key`,
  returned again when a client retries after losing the response.
- incidents: every failed step (script or expression error, a loop, a sandbox worker
  stopped for time or memory), with the element, the message and the data at that moment.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

import services.persistence.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("employees") as batch_op:
        batch_op.add_column(sa.Column("credential_version", sa.Integer(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("credential_version", sa.Integer(), nullable=False,
                                      server_default="0"))

    op.create_table(
        "idempotency_keys",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", _JSON, nullable=False),
        sa.Column("created_at", services.persistence.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", "key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_instance_id", sa.Integer(), nullable=True),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", _JSON, nullable=True),
        sa.Column("created_at", services.persistence.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", services.persistence.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["process_instance_id"], ["process_instances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_process_instance_id", "incidents", ["process_instance_id"])
    op.create_index("ix_incidents_process_time", "incidents", ["process_key", "created_at"])


def downgrade() -> None:
    op.drop_table("incidents")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("credential_version")
    with op.batch_alter_table("employees") as batch_op:
        batch_op.drop_column("credential_version")

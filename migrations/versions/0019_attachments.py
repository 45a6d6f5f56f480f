"""Attachments: files attached to completions, stored once by SHA-256

- file_blobs: one row per distinct content (size, media type as its bytes show, the
  bytes themselves when files are kept in the database, an image's thumbnail).
- attachments: which task's completion attached which file, in which form field, under
  which name.

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

import services.persistence.models

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TIME = services.persistence.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "file_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("in_database", sa.Boolean(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("process_instance_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"]),
        sa.ForeignKeyConstraint(["process_instance_id"], ["process_instances.id"]),
        sa.ForeignKeyConstraint(["sha256"], ["file_blobs.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "field", "sha256", name="uq_attachments_file"),
    )
    op.create_index("ix_attachments_task_id", "attachments", ["task_id"])
    op.create_index("ix_attachments_process_instance_id", "attachments", ["process_instance_id"])
    op.create_index("ix_attachments_sha256", "attachments", ["sha256"])


def downgrade() -> None:
    op.drop_table("attachments")
    op.drop_table("file_blobs")

"""commands: history of kubectl commands run (or refused) through the platform

Revision ID: 0014
Revises: 0013_cluster_api_servers
Create Date: 2026-12-02 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013_cluster_api_servers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command_runs",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("cluster_name", sa.String(length=100), nullable=True),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("identity", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("returncode", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("has_manifest", sa.Boolean(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("stdout_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stderr_bytes", sa.BigInteger(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("stdout_encrypted", sa.Text(), nullable=True),
        sa.Column("stderr_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_runs")),
    )
    with op.batch_alter_table("command_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_command_runs_cluster_id"), ["cluster_id"])
        batch_op.create_index(batch_op.f("ix_command_runs_status"), ["status"])
        batch_op.create_index("ix_command_runs_created_at_id", ["created_at", "id"])
        batch_op.create_index("ix_command_runs_user_created_at", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_table("command_runs")

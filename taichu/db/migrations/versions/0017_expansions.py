"""expansions of created clusters and node removals (tracked runs; their steps and logs
are rows of the cluster's create task journal)

Revision ID: 0017_expansions
Revises: 0013_cluster_api_servers
Create Date: 2026-12-02 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_expansions"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("current_step", sa.String(length=255), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "cluster_expansions",
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("old_node_count", sa.Integer(), nullable=False),
        sa.Column("new_node_count", sa.Integer(), nullable=False),
        sa.Column("old_cpu_cores", sa.Integer(), nullable=False),
        sa.Column("new_cpu_cores", sa.Integer(), nullable=False),
        sa.Column("old_memory_gb", sa.Integer(), nullable=False),
        sa.Column("new_memory_gb", sa.Integer(), nullable=False),
        sa.Column("old_storage_gb", sa.Integer(), nullable=False),
        sa.Column("new_storage_gb", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("machines", sa.JSON(), nullable=False),
        sa.Column("picked", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("requested_by_id", sa.String(length=36), nullable=True),
        *_run_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_expansions")),
    )
    with op.batch_alter_table("cluster_expansions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_expansions_cluster_id"), ["cluster_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cluster_expansions_task_id"), ["task_id"], unique=False
        )
        batch_op.create_index(
            "ix_cluster_expansions_cluster_created", ["cluster_id", "created_at"], unique=False
        )

    op.create_table(
        "cluster_node_removals",
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("machine_id", sa.String(length=36), nullable=False),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("drain_timeout_seconds", sa.Float(), nullable=False),
        sa.Column("drained", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        *_run_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_node_removals")),
    )
    with op.batch_alter_table("cluster_node_removals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_node_removals_cluster_id"), ["cluster_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("cluster_node_removals")
    op.drop_table("cluster_expansions")

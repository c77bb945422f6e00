"""create tasks: clusters built from machines, their machines, step journal and log

Revision ID: 0012_create_tasks
Revises: 0011
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_create_tasks"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _task_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["task_id"],
        ["create_tasks.id"],
        name=op.f(f"fk_{table}_task_id_create_tasks"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "create_tasks",
        sa.Column("cluster_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=True),
        sa.Column("kubernetes_version", sa.String(length=64), nullable=False),
        sa.Column("network_plugin", sa.String(length=64), nullable=False),
        sa.Column("container_runtime", sa.String(length=32), nullable=False),
        sa.Column("artifact_name", sa.String(length=255), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("owner_id", sa.String(length=36), nullable=True),
        sa.Column("pki_encrypted", sa.Text(), nullable=True),
        sa.Column("log_seq", sa.Integer(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_create_tasks")),
    )
    with op.batch_alter_table("create_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_create_tasks_cluster_name"), ["cluster_name"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_create_tasks_cluster_id"), ["cluster_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_create_tasks_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_create_tasks_created_at_id", ["created_at", "id"], unique=False)

    op.create_table(
        "create_task_machines",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("machine_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        _task_fk("create_task_machines"),
        sa.PrimaryKeyConstraint("task_id", "machine_id", name=op.f("pk_create_task_machines")),
    )
    with op.batch_alter_table("create_task_machines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_create_task_machines_machine_id"), ["machine_id"], unique=False
        )

    op.create_table(
        "create_task_steps",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("machine_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        _task_fk("create_task_steps"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_create_task_steps")),
        sa.UniqueConstraint(
            "task_id", "step", "machine_id", name=op.f("uq_create_task_steps_task_id")
        ),
    )

    op.create_table(
        "create_task_logs",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(length=100), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        _task_fk("create_task_logs"),
        sa.PrimaryKeyConstraint("task_id", "seq", name=op.f("pk_create_task_logs")),
    )


def downgrade() -> None:
    op.drop_table("create_task_logs")
    op.drop_table("create_task_steps")
    op.drop_table("create_task_machines")
    op.drop_table("create_tasks")

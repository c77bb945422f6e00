"""machines: the machine inventory and its events

Revision ID: 0011
Revises: 0010_installation
Create Date: 2026-12-01 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010_installation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "machines",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column("internal_address", sa.String(length=45), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=32), nullable=False),
        sa.Column("become", sa.Boolean(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("status_source", sa.String(length=16), nullable=False),
        sa.Column("artifact_path", sa.String(length=500), nullable=False),
        sa.Column("image_repo", sa.String(length=500), nullable=False),
        sa.Column("registry_address", sa.String(length=500), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("private_key_encrypted", sa.Text(), nullable=True),
        sa.Column("passphrase_encrypted", sa.Text(), nullable=True),
        sa.Column("host_key", sa.Text(), nullable=True),
        sa.Column("host_key_source", sa.String(length=16), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=True),
        sa.Column("check_reason", sa.String(length=32), nullable=True),
        sa.Column("check_error", sa.Text(), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_check_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machines")),
        sa.UniqueConstraint("ip_address", name=op.f("uq_machines_ip_address")),
        sa.UniqueConstraint("name", name=op.f("uq_machines_name")),
    )
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machines_role"), ["role"], unique=False)
        batch_op.create_index(batch_op.f("ix_machines_status"), ["status"], unique=False)
        batch_op.create_index("ix_machines_created_at_id", ["created_at", "id"], unique=False)

    op.create_table(
        "machine_events",
        sa.Column("machine_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_machine_events_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machine_events")),
    )
    with op.batch_alter_table("machine_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_machine_events_machine_created", ["machine_id", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("machine_events")
    op.drop_table("machines")

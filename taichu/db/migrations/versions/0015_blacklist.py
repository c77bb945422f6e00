"""blacklist: networks refused or flagged at the HTTP edge

Revision ID: 0015
Revises: 0013_cluster_api_servers
Create Date: 2026-12-02 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blacklist_entries",
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("range_start", sa.String(length=32), nullable=False),
        sa.Column("range_end", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist_entries")),
    )
    with op.batch_alter_table("blacklist_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blacklist_entries_ip"), ["ip"], unique=False)
        batch_op.create_index(batch_op.f("ix_blacklist_entries_source"), ["source"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_blacklist_entries_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_blacklist_entries_range",
            ["ip_version", "range_start", "range_end"],
            unique=False,
        )
        batch_op.create_index(
            "ix_blacklist_entries_created_at_id", ["created_at", "id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("blacklist_entries")

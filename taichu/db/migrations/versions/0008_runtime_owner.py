"""clusters.shared: who may bind a Kubernetes account to a cluster

Revision ID: 0008_runtime_owner
Revises: 0007_audit_mac
Create Date: 2026-12-01 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_runtime_owner"
down_revision: str | None = "0007_audit_mac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "clusters",
        sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # Clusters an admin added stay open to every user's bindings; a user's own, and those
    # whose owner is unknown or gone, become private (admins still reach them).
    op.execute(
        "UPDATE clusters SET shared = TRUE WHERE owner_id IN "
        "(SELECT users.id FROM users WHERE users.role = 'admin')"
    )


def downgrade() -> None:
    op.drop_column("clusters", "shared")

"""clusters: further API servers to fail over to (created highly available clusters)

Revision ID: 0013_cluster_api_servers
Revises: 0012_create_tasks
Create Date: 2026-12-01 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_cluster_api_servers"
down_revision: str | None = "0012_create_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clusters", sa.Column("fallback_api_servers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_column("fallback_api_servers")

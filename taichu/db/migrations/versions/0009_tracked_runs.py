"""when the recorded health probe of a cluster started (a slow probe never overwrites a
newer one); the tracked-run mixin itself maps onto the existing columns

Revision ID: 0009_tracked_runs
Revises: 0008_runtime_owner
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_tracked_runs"
down_revision: str | None = "0008_runtime_owner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null for every existing cluster: the first probe after the upgrade is newer.
    op.add_column(
        "clusters", sa.Column("last_probe_started_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch_op:
        batch_op.drop_column("last_probe_started_at")

"""installation facts: the fingerprint of the master secret

Revision ID: 0010_installation
Revises: 0009_tracked_runs
Create Date: 2026-12-01 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_installation"
down_revision: str | None = "0009_tracked_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty at first: the first process that starts with a secret records its fingerprint.
    op.create_table(
        "installation",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_installation")),
    )


def downgrade() -> None:
    op.drop_table("installation")

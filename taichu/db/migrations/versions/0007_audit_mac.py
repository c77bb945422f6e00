"""audit records: a keyed MAC per record

Revision ID: 0007_audit_mac
Revises: 0006_usernames
Create Date: 2026-12-01 14:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_audit_mac"
down_revision: str | None = "0006_usernames"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: existing records get their MAC on the first start after the upgrade (the
    # migration does not hold the installation's secret).
    op.add_column("audit_records", sa.Column("mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_column("mac")

"""cluster and import owner ids; password version in tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 08:42:43.883317
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No foreign key: SQLite can add one only by rebuilding `clusters` (a batch copy), and
    # dropping the old table would cascade into every table that references it. Ids are
    # never reused, so an owner id left by a deleted user matches nobody.
    op.add_column("clusters", sa.Column("owner_id", sa.String(length=36), nullable=True))
    op.create_index("ix_clusters_owner_id", "clusters", ["owner_id"], unique=False)
    # Clusters added before this revision belong to the user of the name that added them,
    # if that account already existed then (a later one of the same name is someone else).
    op.execute(
        "UPDATE clusters SET owner_id = (SELECT users.id FROM users "
        "WHERE users.username = clusters.created_by "
        "AND users.created_at <= clusters.created_at)"
    )
    op.add_column(
        "cluster_imports", sa.Column("imported_by_id", sa.String(length=36), nullable=True)
    )
    op.create_index(
        "ix_cluster_imports_imported_by_id", "cluster_imports", ["imported_by_id"], unique=False
    )
    op.execute(
        "UPDATE cluster_imports SET imported_by_id = (SELECT users.id FROM users "
        "WHERE users.username = cluster_imports.imported_by "
        "AND users.created_at <= cluster_imports.imported_at)"
    )
    op.add_column(
        "users", sa.Column("password_version", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("users", sa.Column("kept_token_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_cluster_imports_imported_by_id", table_name="cluster_imports")
    op.drop_column("cluster_imports", "imported_by_id")
    op.drop_column("users", "kept_token_id")
    op.drop_column("users", "password_version")
    op.drop_index("ix_clusters_owner_id", table_name="clusters")
    op.drop_column("clusters", "owner_id")

"""clusters: clusters, imports, platform events, autoscaling, k8s bindings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:35:53.759983
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_imports",
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("import_source", sa.String(length=32), nullable=False),
        sa.Column("import_status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("current_step", sa.String(length=255), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("validation_results", sa.JSON(), nullable=False),
        sa.Column("imported_resources", sa.JSON(), nullable=True),
        sa.Column("imported_by", sa.String(length=64), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_imports")),
    )
    with op.batch_alter_table("cluster_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_imports_cluster_id"), ["cluster_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cluster_imports_import_status"), ["import_status"], unique=False
        )

    op.create_table(
        "clusters",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("environment_type", sa.String(length=32), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("api_server_url", sa.String(length=500), nullable=False),
        sa.Column("kubeconfig_encrypted", sa.Text(), nullable=True),
        sa.Column("ca_data_encrypted", sa.Text(), nullable=True),
        sa.Column("insecure_skip_tls_verify", sa.Boolean(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("ready_node_count", sa.Integer(), nullable=False),
        sa.Column("total_cpu_cores", sa.Double(), nullable=False),
        sa.Column("total_memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("total_storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("used_storage_bytes", sa.BigInteger(), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_probe_error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clusters_status"), ["status"], unique=False)

    op.create_table(
        "cluster_autoscaling_settings",
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("min_nodes", sa.Integer(), nullable=True),
        sa.Column("max_nodes", sa.Integer(), nullable=True),
        sa.Column("scale_up_threshold", sa.Integer(), nullable=True),
        sa.Column("scale_down_threshold", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_cluster_autoscaling_settings_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_cluster_autoscaling_settings")),
    )
    op.create_table(
        "k8s_account_bindings",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_k8s_account_bindings_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_k8s_account_bindings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_k8s_account_bindings")),
        sa.UniqueConstraint("user_id", "cluster_id", name=op.f("uq_k8s_account_bindings_user_id")),
    )
    op.create_table(
        "platform_events",
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_platform_events_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_events")),
    )
    with op.batch_alter_table("platform_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_platform_events_cluster_last_seen", ["cluster_id", "last_seen"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("platform_events", schema=None) as batch_op:
        batch_op.drop_index("ix_platform_events_cluster_last_seen")

    op.drop_table("platform_events")
    op.drop_table("k8s_account_bindings")
    op.drop_table("cluster_autoscaling_settings")
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clusters_status"))

    op.drop_table("clusters")
    with op.batch_alter_table("cluster_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_imports_import_status"))
        batch_op.drop_index(batch_op.f("ix_cluster_imports_cluster_id"))

    op.drop_table("cluster_imports")

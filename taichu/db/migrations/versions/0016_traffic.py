"""traffic: per-window traffic samples and anomaly events

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    counters = [
        "requests",
        "blocked",
        "monitored",
        "status_2xx",
        "status_4xx",
        "status_5xx",
        "status_401",
        "status_403",
        "status_404",
        "login_failures",
    ]
    op.create_table(
        "traffic_samples",
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=False),
        sa.Column("ip_key", sa.String(length=32), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counters),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.Column("missing_paths", sa.JSON(), nullable=False),
        sa.Column("usernames", sa.JSON(), nullable=False),
        sa.Column("users", sa.JSON(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("window_start", "ip", "replica", name=op.f("pk_traffic_samples")),
    )
    with op.batch_alter_table("traffic_samples", schema=None) as batch_op:
        batch_op.create_index("ix_traffic_samples_window_start", ["window_start"], unique=False)
        batch_op.create_index(
            "ix_traffic_samples_ip_key_window_start", ["ip_key", "window_start"], unique=False
        )

    op.create_table(
        "anomaly_events",
        sa.Column("detector", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("ip_key", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("offence", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blacklist_entry_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_events")),
        sa.UniqueConstraint(
            "detector", "subject", "window_start", name=op.f("uq_anomaly_events_detector")
        ),
    )
    with op.batch_alter_table("anomaly_events", schema=None) as batch_op:
        batch_op.create_index("ix_anomaly_events_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_anomaly_events_ip_key_window_start", ["ip_key", "window_start"], unique=False
        )


def downgrade() -> None:
    op.drop_table("anomaly_events")
    op.drop_table("traffic_samples")

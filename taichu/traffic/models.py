"""Per-window traffic samples and anomaly events.

A sample row is one (window, address, replica): each replica writes its own rows, once
per window, so two replicas never update the same row and their samples add up exactly
when merged on read (counts summed, distinct sets united, latency histograms added)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin
from taichu.timeutil import utcnow
from taichu.traffic.sampler import COUNTERS

__all__ = ["COUNTERS", "AnomalyEvent", "TrafficSample"]


class TrafficSample(Base):
    __tablename__ = "traffic_samples"
    __table_args__ = (
        Index("ix_traffic_samples_window_start", "window_start"),
        Index("ix_traffic_samples_ip_key_window_start", "ip_key", "window_start"),
    )

    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    ip: Mapped[str] = mapped_column(String(45), primary_key=True)
    replica: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The address as 32 hex digits (IPv4 as IPv4-mapped IPv6), so a CIDR is a range
    # that both SQLite and PostgreSQL compare with an index; "" for `other`/`unknown`.
    ip_key: Mapped[str] = mapped_column(String(32))
    window_seconds: Mapped[int] = mapped_column(Integer)
    requests: Mapped[int] = mapped_column(Integer)
    blocked: Mapped[int] = mapped_column(Integer)
    monitored: Mapped[int] = mapped_column(Integer)
    status_2xx: Mapped[int] = mapped_column(Integer)
    status_4xx: Mapped[int] = mapped_column(Integer)
    status_5xx: Mapped[int] = mapped_column(Integer)
    status_401: Mapped[int] = mapped_column(Integer)
    status_403: Mapped[int] = mapped_column(Integer)
    status_404: Mapped[int] = mapped_column(Integer)
    login_failures: Mapped[int] = mapped_column(Integer)
    bytes_in: Mapped[int] = mapped_column(BigInteger)
    bytes_out: Mapped[int] = mapped_column(BigInteger)
    missing_paths: Mapped[list[str]] = mapped_column(JSON)
    usernames: Mapped[dict[str, Any]] = mapped_column(JSON)
    users: Mapped[list[str]] = mapped_column(JSON)
    latency: Mapped[list[int]] = mapped_column(JSON)


class AnomalyEvent(IdMixin, Base):
    __tablename__ = "anomaly_events"
    __table_args__ = (
        # A detector judges a window of a subject once, however often it looks again.
        UniqueConstraint("detector", "subject", "window_start"),
        Index("ix_anomaly_events_created_at", "created_at"),
        Index("ix_anomaly_events_ip_key_window_start", "ip_key", "window_start"),
    )

    detector: Mapped[str] = mapped_column(String(32))
    # The address, or "user:<name>" for the per-username brute force.
    subject: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(45))
    ip_key: Mapped[str] = mapped_column(String(32))
    username: Mapped[str | None] = mapped_column(String(150))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    score: Mapped[float] = mapped_column(Double)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    mode: Mapped[str] = mapped_column(String(16))  # monitor | block
    offence: Mapped[int] = mapped_column(Integer, default=1)
    blocked_until: Mapped[datetime | None]
    blacklist_entry_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base


class InstallationValue(Base):
    """Facts about the installation every process must agree on (key -> value), such as
    the fingerprint of the master secret (never the secret itself)."""

    __tablename__ = "installation"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))

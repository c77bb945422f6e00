from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: str
    username: str
    role: str
    jti: str
    expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

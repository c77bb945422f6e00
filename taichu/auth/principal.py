from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from taichu.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: str
    username: str
    role: str
    jti: str
    expires_at: datetime
    # Still on the bootstrap password (admin/admin): may only change it (see below).
    password_change_required: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def refuse_bootstrap(principal: Principal) -> None:
    """The one rule for the bootstrap password: until it is changed, nothing but login,
    profile, logout and that change (the callers that skip this check) is allowed."""
    if principal.password_change_required:
        raise Forbidden(
            f"change the bootstrap password first: PUT /api/v1/users/{principal.user_id}/password"
        )

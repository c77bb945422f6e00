from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from taichu.db.base import Base, IdMixin, TimestampMixin

ROLES = ("admin", "user")

# Usernames are ASCII (USERNAME_PATTERN): folding only A-Z keeps Python and both databases'
# lower() in agreement (Python's str.lower would turn the Kelvin sign into "k").
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_username(username: str) -> str:
    """The form in which two usernames are the same account: `Admin` is `admin`."""
    return username.translate(_ASCII_FOLD)


def username_key() -> ColumnElement[str]:
    """The database side of `fold_username` (what the unique index is built on)."""
    return func.lower(User.username)


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16), default="user")
    password_hash: Mapped[str] = mapped_column(String(255))
    password_change_required: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None]
    # A password change ends the sessions opened before it (a stolen token stops working),
    # except the one that made the change: tokens carry the version they were issued at.
    password_version: Mapped[int] = mapped_column(default=0, server_default="0")
    kept_token_id: Mapped[str | None] = mapped_column(String(64))

    def replace_password(self, password_hash: str, keep_token_id: str | None = None) -> None:
        self.password_hash = password_hash
        self.password_change_required = False
        # In SQL: two changes at once must both count.
        self.password_version = User.password_version + 1  # type: ignore[assignment]
        self.kept_token_id = keep_token_id

    def outdated(self, token_id: str, password_version: int) -> bool:
        """Whether a token predates the last password change (and is not the session
        that made it)."""
        return password_version != self.password_version and token_id != self.kept_token_id


# `Admin` and `admin` are one account: the database refuses the second, whoever writes.
Index("uq_users_username_lower", func.lower(User.username), unique=True)

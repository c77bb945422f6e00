from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from taichu.api.schemas import InModel, OutModel

Role = Literal["admin", "user"]
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$"


class UserBrief(OutModel):
    id: str
    username: str
    email: str | None
    role: str


class UserOut(OutModel):
    id: str
    username: str
    email: str | None
    role: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    password_change_required: bool = False


class UserList(BaseModel):
    users: list[UserOut]
    total: int
    page: int
    limit: int


class UserUpdate(InModel):
    email: EmailStr | None = None
    role: Role | None = None


class PasswordChange(InModel):
    old_password: str | None = Field(None, max_length=1024)
    new_password: str = Field(max_length=1024)

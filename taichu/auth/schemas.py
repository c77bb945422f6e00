from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, EmailStr, Field

from taichu.api.schemas import InModel, OutModel
from taichu.users.schemas import USERNAME_PATTERN, Role, UserBrief


class LoginRequest(InModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class RegisterRequest(InModel):
    username: str = Field(pattern=USERNAME_PATTERN, description="3-64 of A-Z a-z 0-9 _ . @ -")
    email: EmailStr | None = None
    password: str = Field(max_length=1024)
    role: Role | None = None


class RefreshRequest(InModel):
    token: str = Field(min_length=1, max_length=4096)


class ProfileUser(UserBrief):
    password_change_required: bool = False


class LoginData(BaseModel):
    token: str
    expires_in: int
    user: ProfileUser


class TokenData(BaseModel):
    token: str
    expires_in: int | None = None


class RegisteredUser(OutModel):
    id: str
    username: str
    email: str | None
    role: str
    created_at: datetime


# Runtime family (`/api/auth/...`): plain JSON, user identified by `uuid`.
class RuntimeUser(OutModel):
    uuid: str
    username: str
    email: str | None = None
    role: str


class RuntimeAuthResponse(BaseModel):
    token: str
    user: RuntimeUser


class RuntimeRegisterRequest(InModel):
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(max_length=1024)
    email: EmailStr | None = None

"""JWT issue and decode. HS256 only: `alg: none` and every other algorithm are refused."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from taichu.errors import Unauthorized
from taichu.timeutil import utcnow

ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    username: str
    role: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    password_version: int = 0  # the user's at issue: a password change outdates the token


def issue_token(
    key: bytes,
    *,
    user_id: str,
    username: str,
    role: str,
    ttl_seconds: int,
    password_version: int = 0,
) -> tuple[str, TokenClaims]:
    now = utcnow().replace(microsecond=0)
    claims = TokenClaims(
        user_id=user_id,
        username=username,
        role=role,
        jti=secrets.token_hex(16),
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
        password_version=password_version,
    )
    payload = {
        "sub": user_id,
        "username": username,
        "role": role,
        "jti": claims.jti,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "iss": "taichu",
        "pwv": password_version,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM), claims


def decode_token(key: bytes, token: str) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer="taichu",
            options={"require": ["exp", "iat", "sub", "jti", "iss"]},
        )
    except jwt.ExpiredSignatureError as e:
        raise Unauthorized("Invalid token: Token expired") from e
    except jwt.InvalidTokenError as e:
        raise Unauthorized(f"Invalid token: {e}") from e
    try:
        return TokenClaims(
            user_id=str(payload["sub"]),
            username=str(payload.get("username", "")),
            role=str(payload.get("role", "user")),
            jti=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(payload["iat"], tz=utcnow().tzinfo),
            expires_at=datetime.fromtimestamp(payload["exp"], tz=utcnow().tzinfo),
            password_version=int(payload.get("pwv", 0)),
        )
    except (TypeError, ValueError, OverflowError) as e:
        raise Unauthorized("Invalid token: malformed claims") from e

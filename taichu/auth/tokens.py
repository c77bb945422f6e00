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


# Fixed sentences only: a library's exception text is not an API message.
_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "Invalid token: Token expired"),
    (jwt.InvalidSignatureError, "Invalid token: signature does not match"),
    (jwt.InvalidAlgorithmError, "Invalid token: algorithm not allowed (HS256 only)"),
    (jwt.MissingRequiredClaimError, "Invalid token: a required claim is missing"),
    (jwt.InvalidIssuerError, "Invalid token: wrong issuer"),
    (jwt.ImmatureSignatureError, "Invalid token: not valid yet"),
    (jwt.InvalidIssuedAtError, "Invalid token: malformed claims"),
    (jwt.DecodeError, "Invalid token: not a JWT"),
)
MALFORMED = "Invalid token: malformed claims"
# Times beyond what a datetime holds (year 9999) are not times: `exp` of 10^18 overflowed.
_LATEST = 253402300799


def _refusal(error: jwt.InvalidTokenError) -> str:
    for kind, message in _REFUSALS:
        if isinstance(error, kind):
            return message
    return MALFORMED


def _timestamp(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _LATEST:
        raise ValueError("not a time")
    return datetime.fromtimestamp(value, tz=utcnow().tzinfo)


def decode_token(key: bytes, token: str) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer="taichu",
            options={"require": ["exp", "iat", "sub", "jti", "iss"]},
        )
    except jwt.InvalidTokenError as e:
        raise Unauthorized(_refusal(e)) from e
    try:
        version = payload.get("pwv", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError("pwv")
        return TokenClaims(
            user_id=str(payload["sub"]),
            username=str(payload.get("username", "")),
            role=str(payload.get("role", "user")),
            jti=str(payload["jti"]),
            issued_at=_timestamp(payload["iat"]),
            expires_at=_timestamp(payload["exp"]),
            password_version=version,
        )
    except (TypeError, ValueError, OverflowError, OSError) as e:
        raise Unauthorized(MALFORMED) from e

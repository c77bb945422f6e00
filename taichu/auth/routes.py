"""Auth endpoints of both API families. One JWT works on both."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from taichu.api.client import client_address, require_loopback
from taichu.api.deps import Ctx, Session, SignedIn, bearer_scheme
from taichu.api.envelope import Envelope, MessageData, ok
from taichu.audit import recording
from taichu.auth import service
from taichu.auth.principal import Principal
from taichu.auth.schemas import (
    LoginData,
    LoginRequest,
    ProfileUser,
    RefreshRequest,
    RegisteredUser,
    RegisterRequest,
    RuntimeAuthResponse,
    RuntimeRegisterRequest,
    RuntimeUser,
    TokenData,
)
from taichu.errors import NotFound, TooManyRequests, Unauthorized
from taichu.users.models import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
runtime_router = APIRouter(prefix="/api/auth", tags=["runtime: auth"])


async def _login(body: LoginRequest, request: Request, ctx: Ctx) -> service.IssuedToken:
    """Both families' login: the same checks, throttle and audit."""
    try:
        return await service.login(
            ctx.sessions,
            ctx.read_sessions,
            ctx.settings,
            ctx.jwt_key,
            username=body.username,
            password=body.password,
            ip_address=client_address(request.scope),
        )
    except (Unauthorized, TooManyRequests):
        # Tells the traffic sampler (taichu/traffic/middleware.py) who failed to log in.
        request.scope["taichu.login_failure"] = body.username
        raise


async def optional_caller(
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    async with ctx.read_sessions() as session:
        return await service.optional_principal(
            session, ctx.jwt_key, credentials.credentials if credentials else None
        )


OptionalCaller = Annotated[Principal | None, Depends(optional_caller)]


def _login_data(issued: service.IssuedToken) -> dict[str, object]:
    user = ProfileUser.model_validate(issued.user).model_dump(mode="json")
    return {"token": issued.token, "expires_in": issued.expires_in, "user": user}


@router.post("/login", response_model=Envelope[LoginData])
async def login(body: LoginRequest, request: Request, ctx: Ctx) -> dict[str, object]:
    return ok(_login_data(await _login(body, request, ctx)))


@router.post("/register", response_model=Envelope[RegisteredUser])
async def register(
    body: RegisterRequest, ctx: Ctx, session: Session, caller: OptionalCaller
) -> dict[str, object]:
    user = await service.register(
        session,
        ctx.settings,
        caller=caller,
        username=body.username,
        password=body.password,
        email=body.email,
        role=body.role,
    )
    return ok(RegisteredUser.model_validate(user).model_dump(mode="json"))


@router.post("/refresh", response_model=Envelope[LoginData])
async def refresh(body: RefreshRequest, ctx: Ctx, session: Session) -> dict[str, object]:
    issued = await service.refresh(session, ctx.settings, ctx.jwt_key, body.token)
    return ok(_login_data(issued))


@router.get("/profile", response_model=Envelope[ProfileUser])
async def profile(principal: SignedIn, session: Session) -> dict[str, object]:
    user = await session.get(User, principal.user_id)
    return ok(ProfileUser.model_validate(user).model_dump(mode="json"))


@router.post("/logout", response_model=Envelope[MessageData])
async def logout(principal: SignedIn, session: Session) -> dict[str, object]:
    await service.logout(session, principal)
    return ok({"message": "Logged out"})


@router.get("/token", response_model=Envelope[TokenData])
async def test_token(ctx: Ctx, session: Session, request: Request) -> dict[str, object]:
    """A token for the first admin; exists only when TAICHU_ENV=development, and only
    for loopback clients."""
    if ctx.settings.env != "development":
        raise NotFound("Not found: GET /api/v1/auth/token")
    require_loopback(request.scope, "the development token")
    issued = await service.dev_token(session, ctx.settings, ctx.jwt_key)
    return ok({"token": issued.token, "expires_in": issued.expires_in})


def _runtime_auth(issued: service.IssuedToken) -> RuntimeAuthResponse:
    user = issued.user
    return RuntimeAuthResponse(
        token=issued.token,
        user=RuntimeUser(uuid=user.id, username=user.username, email=user.email, role=user.role),
    )


@runtime_router.post("/register/", response_model=RuntimeAuthResponse)
async def runtime_register(
    body: RuntimeRegisterRequest, ctx: Ctx, caller: OptionalCaller
) -> RuntimeAuthResponse:
    async with ctx.sessions.begin() as session:
        user = await service.register(
            session,
            ctx.settings,
            caller=caller,
            username=body.username,
            password=body.password,
            email=body.email,
            role=None,
        )
        await recording.write_current(session)  # the record commits with the new account
    # The password was just set: no second hash to log the new user in.
    return _runtime_auth(service.issue(ctx.settings, ctx.jwt_key, user))


@runtime_router.post("/login/", response_model=RuntimeAuthResponse)
async def runtime_login(body: LoginRequest, request: Request, ctx: Ctx) -> RuntimeAuthResponse:
    return _runtime_auth(await _login(body, request, ctx))


@runtime_router.get("/me/", response_model=RuntimeUser)
async def runtime_me(principal: SignedIn, session: Session) -> RuntimeUser:
    user = await session.get(User, principal.user_id)
    assert user is not None  # authenticate() checked it exists
    return RuntimeUser(uuid=user.id, username=user.username, email=user.email, role=user.role)

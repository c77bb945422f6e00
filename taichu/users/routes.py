from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from taichu.api.deps import AdminUser, Ctx, CurrentUser, Session, SignedIn
from taichu.api.envelope import Envelope, MessageData, PageParams, ok, page_params
from taichu.audit import context as audit
from taichu.auth import service as auth_service
from taichu.users import service
from taichu.users.schemas import PasswordChange, Role, UserList, UserOut, UserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("", response_model=Envelope[UserList])
async def list_users(
    _: AdminUser,
    session: Session,
    paging: PageParams = Depends(page_params),
    role: Role | None = Query(None),
    search: str | None = Query(None, max_length=100),
) -> dict[str, object]:
    users, total = await service.list_users(
        session, role=role, search=search, offset=paging.offset, limit=paging.limit
    )
    return ok(
        {
            "users": [UserOut.model_validate(u).model_dump(mode="json") for u in users],
            "total": total,
            "page": paging.page,
            "limit": paging.limit,
        }
    )


@router.get("/{id}", response_model=Envelope[UserOut])
async def get_user(id: str, principal: CurrentUser, session: Session) -> dict[str, object]:
    user = await service.get_user(session, principal, id)
    return ok(UserOut.model_validate(user).model_dump(mode="json"))


@router.put("/{id}", response_model=Envelope[UserOut])
async def update_user(
    id: str, body: UserUpdate, principal: CurrentUser, session: Session
) -> dict[str, object]:
    user = await service.update_user(
        session, principal, id, email=body.email, role=body.role, fields_set=body.model_fields_set
    )
    return ok(UserOut.model_validate(user).model_dump(mode="json"))


@router.delete("/{id}", response_model=Envelope[MessageData])
async def delete_user(id: str, principal: CurrentUser, session: Session) -> dict[str, object]:
    await service.delete_user(session, principal, id)
    return ok({"message": "User deleted successfully"})


@router.put("/{id}/password", response_model=Envelope[MessageData])
async def change_password(
    id: str, body: PasswordChange, principal: SignedIn, ctx: Ctx, session: Session
) -> dict[str, object]:
    await service.change_password(
        session,
        ctx.read_sessions,
        ctx.settings,
        principal,
        id,
        old_password=body.old_password,
        new_password=body.new_password,
    )
    return ok({"message": "Password updated successfully"})


async def _audit_as_unlock() -> None:
    # Named before authorization runs, so a refused attempt is recorded as what it was.
    audit.note(event_type="user", action="unlock", resource="user")


@router.post(
    "/{id}/unlock",
    response_model=Envelope[MessageData],
    dependencies=[Depends(_audit_as_unlock)],
    operation_id="users_unlock",
)
async def unlock_user(id: str, principal: AdminUser, session: Session) -> dict[str, object]:
    """Clears the user's failed-login locks at every address (admin only)."""
    user = await service.get_user(session, principal, id)
    await auth_service.unlock(session, user)
    return ok({"message": f"Login locks of {user.username} cleared"})

"""Create clusters from machines: `POST /clusters/create` and the create tasks."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from taichu.api.deps import AdminUser, Ctx, CurrentUser, Session
from taichu.api.envelope import Envelope, PageParams, ok, page_params
from taichu.provision import planned, service
from taichu.provision.models import CreateTask
from taichu.provision.schemas import (
    CreateClusterIn,
    CreateTaskCreated,
    CreateTaskDetail,
    CreateTaskList,
    CreateTaskSummary,
    TaskMachineOut,
    TaskStepOut,
)

router = APIRouter(prefix="/api/v1", tags=["create tasks"])


def _summary(task: CreateTask) -> dict[str, object]:
    return CreateTaskSummary.model_validate(task).model_dump(mode="json")


async def _detail(ctx: Ctx, session: Session, task: CreateTask) -> dict[str, object]:
    members = await service.task_machines(session, task.id)
    logs = await service.log_tail(session, task.id, ctx.settings.provision.detail_log_lines)
    data = CreateTaskDetail.model_validate(
        {
            **CreateTaskSummary.model_validate(task).model_dump(),
            "logs": logs,
            "error_msg": task.error_message or "",
            "machines": [
                TaskMachineOut(
                    machine_id=m.machine_id, role=m.role, node_name=m.node_name, address=m.address
                )
                for m in members
            ],
            "steps": [
                TaskStepOut.model_validate(r) for r in await service.task_steps(session, task.id)
            ],
            "planned_steps": planned.create_steps(ctx.settings),
        }
    )
    return data.model_dump(mode="json")


@router.post(
    "/clusters/create",
    response_model=Envelope[CreateTaskCreated],
    operation_id="clusters_create_from_machines",
)
async def create_from_machines(
    body: CreateClusterIn, principal: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    task = await service.create_task(ctx, session, body, principal)
    return ok(CreateTaskCreated.model_validate(task).model_dump(mode="json"))


@router.get("/create-tasks", response_model=Envelope[CreateTaskList])
async def list_tasks(
    principal: CurrentUser, session: Session, paging: PageParams = Depends(page_params)
) -> dict[str, object]:
    tasks, total = await service.list_tasks(
        session, principal, offset=paging.offset, limit=paging.limit
    )
    return ok(
        {
            "tasks": [_summary(t) for t in tasks],
            "total": total,
            "page": paging.page,
            "limit": paging.limit,
        }
    )


@router.get("/create-tasks/{taskId}", response_model=Envelope[CreateTaskDetail])
async def get_task(
    taskId: str, principal: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    task = await service.get_task(session, principal, taskId)
    return ok(await _detail(ctx, session, task))


@router.post("/create-tasks/{taskId}/retry", response_model=Envelope[CreateTaskDetail])
async def retry_task(
    taskId: str, principal: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    task = await service.retry_task(ctx, session, principal, taskId)
    return ok(await _detail(ctx, session, task))


@router.post("/create-tasks/{taskId}/cancel", response_model=Envelope[CreateTaskDetail])
async def cancel_task(
    taskId: str, principal: AdminUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    task = await service.cancel_task(session, principal, taskId)
    return ok(await _detail(ctx, session, task))

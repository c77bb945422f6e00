"""Cluster endpoints of `/api/v1`. Literal paths (imports, topology, import) are declared
before `/clusters/{id}` so they are never taken for an id."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from taichu.api.deps import Ctx, CurrentUser, Session
from taichu.api.envelope import Envelope, MessageData, PageParams, ok, page_params
from taichu.audit import service as audit_service
from taichu.audit.routes import audit_page
from taichu.audit.schemas import AuditEventList, audit_filter
from taichu.audit.service import AuditFilter
from taichu.clusters import imports, service
from taichu.clusters.models import CLUSTER_STATUSES, Cluster, ClusterImport
from taichu.clusters.schemas import (
    ClusterCreate,
    ClusterCreated,
    ClusterDetail,
    ClusterImportRequest,
    ClusterList,
    ClusterSummary,
    ImportList,
    ImportOut,
    ImportStatusOut,
    Topology,
)
from taichu.errors import Invalid

router = APIRouter(prefix="/api/v1", tags=["clusters"])


def _summary(cluster: Cluster) -> dict[str, object]:
    return ClusterSummary.model_validate(cluster).model_dump(mode="json")


def _import_out(record: ClusterImport) -> dict[str, object]:
    data = ImportOut.model_validate(record).model_dump(mode="json")
    data["imported_resources"] = record.imported_resources or "pending"
    data["completed_at"] = data["completed_at"] or ""
    return data


@router.post("/clusters", response_model=Envelope[ClusterCreated])
async def create_cluster(
    body: ClusterCreate, principal: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    new = service.NewCluster(**body.model_dump())
    cluster = await service.register(ctx, session, new, principal)
    return ok(ClusterCreated.model_validate(cluster).model_dump(mode="json"))


@router.get("/clusters", response_model=Envelope[ClusterList])
async def list_clusters(
    _: CurrentUser,
    session: Session,
    paging: PageParams = Depends(page_params),
    status: str | None = Query(None, description="|".join(CLUSTER_STATUSES)),
    label_selector: str | None = Query(None, max_length=2000),
    search: str | None = Query(None, max_length=100),
) -> dict[str, object]:
    if status and status not in CLUSTER_STATUSES:
        raise Invalid(f"status: must be one of {', '.join(CLUSTER_STATUSES)}")
    clusters, total = await service.list_clusters(
        session,
        status=status,
        label_selector=label_selector,
        search=search,
        offset=paging.offset,
        limit=paging.limit,
    )
    return ok(
        {
            "clusters": [_summary(c) for c in clusters],
            "total": total,
            "page": paging.page,
            "limit": paging.limit,
        }
    )


@router.get("/clusters/topology", response_model=Envelope[Topology])
async def get_topology(_: CurrentUser, session: Session) -> dict[str, object]:
    return ok(service.topology(await service.all_clusters(session)))


@router.get("/clusters/imports", response_model=Envelope[ImportList])
async def list_imports(
    principal: CurrentUser,
    session: Session,
    paging: PageParams = Depends(page_params),
    import_source: str | None = Query(None, max_length=32),
    status: str | None = Query(None, max_length=16),
) -> dict[str, object]:
    records, total = await imports.list_imports(
        session,
        principal,
        import_source=import_source,
        status=status,
        offset=paging.offset,
        limit=paging.limit,
    )
    return ok(
        {
            "imports": [_import_out(r) for r in records],
            "total": total,
            "page": paging.page,
            "limit": paging.limit,
        }
    )


@router.post("/clusters/import", response_model=Envelope[ImportOut])
async def import_cluster(
    body: ClusterImportRequest, principal: CurrentUser, ctx: Ctx, session: Session
) -> dict[str, object]:
    fields = body.model_dump(exclude={"import_source"})
    record = await imports.start_import(
        ctx, session, service.NewCluster(**fields), body.import_source, principal
    )
    return ok(_import_out(record))


@router.get("/imports/{importId}/status", response_model=Envelope[ImportStatusOut])
async def import_status(
    importId: str, principal: CurrentUser, session: Session
) -> dict[str, object]:
    record = await imports.get_import(session, principal, importId)
    return ok(
        {
            "import_id": record.id,
            "cluster_id": record.cluster_id,
            "import_status": record.import_status,
            "progress": record.progress,
            "current_step": record.current_step,
            "error_message": record.error_message,
            "validation_results": record.validation_results,
            "imported_resources": record.imported_resources or "pending",
        }
    )


@router.get("/clusters/{id}", response_model=Envelope[ClusterDetail])
async def get_cluster(id: str, _: CurrentUser, ctx: Ctx, session: Session) -> dict[str, object]:
    from taichu.provision.certificates import cluster_certificates

    cluster = await service.get_cluster(session, id)
    data = ClusterDetail.model_validate(cluster).model_dump(mode="json")
    data["certificates"] = await cluster_certificates(ctx, session, cluster)
    return ok(data)


@router.delete("/clusters/{id}", response_model=Envelope[MessageData])
async def delete_cluster(
    id: str,
    principal: CurrentUser,
    ctx: Ctx,
    session: Session,
    teardown: bool = Query(
        False,
        description="A cluster the platform created: first remove what the installer put "
        "on its machines and release them (the cluster is deleted when that is done).",
    ),
) -> dict[str, object]:
    from taichu.provision.teardown import release_without_teardown, request_teardown

    if teardown:
        await request_teardown(ctx, session, principal, id)
        return ok({"message": "Cluster teardown started"})
    await service.managed_cluster(session, principal, id)
    await release_without_teardown(session, id)
    await service.delete_cluster(ctx, session, id)
    return ok({"message": "Cluster deleted"})


@router.get("/clusters/{id}/audit", response_model=Envelope[AuditEventList])
async def cluster_audit(
    id: str,
    principal: CurrentUser,
    session: Session,
    flt: AuditFilter = Depends(audit_filter),
    paging: PageParams = Depends(page_params),
) -> dict[str, object]:
    await service.managed_cluster(session, principal, id)
    flt.cluster_id = id
    records, total = await audit_service.list_records(session, flt, paging.offset, paging.limit)
    return ok(audit_page(list(records), total, paging))

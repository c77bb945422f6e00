"""The FastAPI application: both API families, middleware, and the lifespan that
migrates (SQLite), bootstraps the admin and runs the job workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from taichu import __version__, installation
from taichu.api.client import ForwardedProtoMiddleware
from taichu.api.errors import install_error_handlers
from taichu.api.guards import RejectNulMiddleware
from taichu.api.limits import BodyLimitMiddleware
from taichu.api.openapi import install_openapi, operation_id
from taichu.audit.integrity import warn_unkeyed
from taichu.audit.middleware import AuditMiddleware
from taichu.blacklist.enforcement import BlacklistMiddleware, Blocklist
from taichu.config import Settings, get_settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.domains import installed
from taichu.jobs.registry import default_registry
from taichu.jobs.runner import JobRunner
from taichu.jobs.supervisor import WorkerSupervisor
from taichu.system.metrics import Metrics, MetricsMiddleware
from taichu.traffic.middleware import SamplingMiddleware
from taichu.users import service as users_service
from taichu.web.serving import install_console

log = logging.getLogger("taichu")

DESCRIPTION = """Taichu (太初): multi-cluster Kubernetes management.

* `/api/v1/...` answers in the envelope `{"code": 0, "message": "success", "data": ...}`.
* `/api/...` (runtime family) answers plain JSON; errors are `{"detail": "..."}`.
* Authenticate with `Authorization: Bearer <token>` from `POST /api/v1/auth/login`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Migrates SQLite; checks PostgreSQL's schema and the installation's secret.
        await installation.prepare(settings, "serve")
        ctx = AppContext.create(settings)
        ctx.metrics = metrics
        async with transaction(ctx.sessions) as session:
            await users_service.ensure_admin(session, settings)
        await warn_unkeyed(ctx.sessions)  # sealing is the operator's `taichu audit seal`
        app.state.ctx = ctx
        await app.state.blocklist.start(ctx)  # loaded before the first request
        workers: JobRunner | WorkerSupervisor | None = None
        if settings.jobs.enabled and settings.jobs.run_in == "subprocess":
            workers = WorkerSupervisor(settings)
        elif settings.jobs.enabled:
            workers = ctx.jobs = JobRunner(ctx, default_registry(settings))
        if workers is not None:
            await workers.start()
        try:
            yield
        finally:
            if workers is not None:
                await workers.stop()
            await app.state.blocklist.stop()
            await ctx.close()

    app = FastAPI(
        title="Taichu",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        # Served by the console (taichu/web/serving.py) from vendored assets, not a CDN.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    install_openapi(app)
    # Order: metrics outermost (times everything), audit inside it.
    app.add_middleware(AuditMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.http.max_body_bytes)
    app.add_middleware(RejectNulMiddleware)
    # The blacklist refuses blocked addresses before anything inside it runs (audit, body,
    # routing, authentication); traffic sampling goes outside it, to see those refusals.
    app.state.blocklist = Blocklist(settings.blacklist)
    app.add_middleware(BlacklistMiddleware, blocklist=app.state.blocklist)
    app.add_middleware(ForwardedProtoMiddleware)
    # Traffic sampling outside the blacklist's enforcement: it sees (and marks) refusals.
    app.add_middleware(SamplingMiddleware, settings=settings.anomaly)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    domains = installed()
    # Every /api/v1 router before any runtime-family one, in the list's order.
    for domain in domains:
        for router in domain.routers:
            app.include_router(router)
    for domain in domains:
        for router in domain.runtime_routers:
            app.include_router(router)
    install_console(app)  # the web console answers GET/HEAD no route matched, outside /api
    return app

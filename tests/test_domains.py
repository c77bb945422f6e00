"""One list of domains is what the app, the worker, the audit log and the schema read."""

from __future__ import annotations

from fastapi.routing import APIRoute

from taichu.app import create_app
from taichu.audit.middleware import classify
from taichu.config import Settings
from taichu.db.base import Base
from taichu.domains import Domain, audit_vocabulary, installed
from taichu.jobs.registry import JobRegistry, default_registry

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def _routes(domain: Domain) -> list[APIRoute]:
    return [r for router in (*domain.routers, *domain.runtime_routers) for r in router.routes]


def test_the_app_serves_exactly_the_declared_routes_v1_first() -> None:
    domains = installed()
    app = create_app(Settings())
    # (FastAPI keeps an included router as one entry, matched in inclusion order.)
    included = [
        getattr(r, "original_router", None)
        for r in app.router.routes
        if hasattr(r, "original_router")
    ]
    v1 = [router for d in domains for router in d.routers]
    runtime = [router for d in domains for router in d.runtime_routers]
    assert included == [*v1, *runtime]
    paths = {path for path in app.openapi()["paths"]}
    assert {
        r.path for router in included for r in router.routes if isinstance(r, APIRoute)
    } == paths


def test_every_mutating_route_is_audited_in_declared_words() -> None:
    verbs, nouns = audit_vocabulary(installed())
    singular = set(nouns.values())
    for domain in installed():
        for route in _routes(domain):
            for method in route.methods & MUTATING:
                event_type, action, resource = classify(method, route.path)
                assert event_type in singular | {"auth"}, (method, route.path)
                assert resource in singular | {"auth", "autoscaling-policies"}, route.path
                assert action in verbs | {"create", "update", "delete"}, route.path


def test_a_noun_declared_twice_differently_is_refused() -> None:
    a = Domain(name="a", audit_nouns={"nodes": "node"})
    b = Domain(name="b", audit_nouns={"nodes": "machine_node"})
    try:
        audit_vocabulary([a, b])
    except ValueError as e:
        assert "nodes" in str(e)
    else:
        raise AssertionError("clash accepted")


def test_each_domain_brings_its_jobs_tables_and_settings() -> None:
    settings = Settings()
    registry = default_registry(settings)
    tables = set(Base.metadata.tables)
    for domain in installed():
        if domain.register_jobs is not None:
            own = JobRegistry()
            domain.register_jobs(own, settings)
            assert set(own.handlers) <= set(registry.handlers)
            assert set(own.periodics) <= set(registry.periodics)
        if domain.models is not None:
            mapped = {getattr(v, "__tablename__", None) for v in vars(domain.models).values()} - {
                None
            }
            assert mapped and mapped <= tables, domain.name
        if domain.settings_section is not None:
            assert domain.settings_section in Settings.model_fields, domain.name

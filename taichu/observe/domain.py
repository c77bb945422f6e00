"""Nodes, pods, events, resources, security and autoscaling views of clusters."""

from taichu.domains import Domain
from taichu.observe.routes import router
from taichu.observe.runtime_routes import router as runtime_router

DOMAIN = Domain(
    name="observe",
    routers=[router],
    runtime_routers=[runtime_router],
    audit_nouns={"nodes": "node"},
    settings_section="observe",
)

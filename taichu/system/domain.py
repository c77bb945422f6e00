"""Health, readiness and metrics of the platform itself."""

from taichu.domains import Domain
from taichu.system.routes import router

DOMAIN = Domain(name="system", routers=[router])

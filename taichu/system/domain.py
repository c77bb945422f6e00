"""Health, readiness and metrics of the platform itself, and installation facts."""

from taichu.domains import Domain
from taichu.system import models
from taichu.system.routes import router

DOMAIN = Domain(name="system", routers=[router], models=models)

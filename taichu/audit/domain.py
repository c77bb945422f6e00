"""The audit log and its reading API."""

from taichu.audit import models
from taichu.audit.routes import router
from taichu.domains import Domain

DOMAIN = Domain(name="audit", routers=[router], models=models)

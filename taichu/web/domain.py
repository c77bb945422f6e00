"""The console's own routes: the API documentation pages (Swagger UI, ReDoc) from vendored
assets. The SPA itself is the router's fallback (taichu.web.serving.install_console)."""

from taichu.domains import Domain
from taichu.web.serving import router

DOMAIN = Domain(name="console", runtime_routers=[router])

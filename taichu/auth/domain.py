"""Sign-in, tokens and the runtime family's account binding."""

from taichu.auth import models
from taichu.auth.routes import router, runtime_router
from taichu.domains import Domain

DOMAIN = Domain(
    name="auth",
    routers=[router],
    runtime_routers=[runtime_router],
    audit_nouns={"accounts": "account"},
    audit_verbs=frozenset({"login", "logout", "register", "refresh", "password", "bind"}),
    models=models,
    settings_section="auth",
)

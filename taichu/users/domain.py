"""User accounts."""

from taichu.domains import Domain
from taichu.users import models
from taichu.users.routes import router

DOMAIN = Domain(
    name="users",
    routers=[router],
    audit_nouns={"users": "user"},
    audit_verbs=frozenset({"unlock"}),
    models=models,
)

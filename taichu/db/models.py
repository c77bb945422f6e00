"""Every table: the core's (jobs) and each domain's (taichu.domains), so Alembic and
tests see one complete metadata."""

from taichu.db.base import Base
from taichu.domains import installed
from taichu.jobs import models as _jobs  # noqa: F401

# Importing a domain's declaration imports its models module; naming them here keeps a
# domain without routes (tables only) in the metadata too.
MODELS = [domain.models for domain in installed() if domain.models is not None]
metadata = Base.metadata

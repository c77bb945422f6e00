"""Imports every domain's tables so Alembic and tests see one complete metadata."""

from taichu.audit import models as _audit  # noqa: F401
from taichu.auth import models as _auth  # noqa: F401
from taichu.backups import models as _backups  # noqa: F401
from taichu.clusters import models as _clusters  # noqa: F401
from taichu.db.base import Base
from taichu.jobs import models as _jobs  # noqa: F401
from taichu.system import models as _system  # noqa: F401
from taichu.users import models as _users  # noqa: F401

metadata = Base.metadata

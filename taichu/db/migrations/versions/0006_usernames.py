"""usernames unique without regard to case

Revision ID: 0006_usernames
Revises: 0005
Create Date: 2026-12-01 14:50:00

`Admin`, `ADMIN` and `admin` were three accounts. From here on they are one name: a unique
index on lower(username). Accounts that already clash are settled, never deleted: in each
group of names equal but for case, the oldest account (created first; the smaller id on a
tie) keeps its name, and each other one is renamed to `<name>~2`, `<name>~3`, ... in the
order they were created (`~` cannot occur in a registered name, so a new name collides
with nothing; a name too long for the suffix is shortened first). The renamed accounts
keep their id, password, role and sessions: their owners log in with the new name. Each
rename is logged as a warning naming both accounts.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_usernames"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("taichu.migrations")
_MAX = 64


def _fold(name: str) -> str:
    return name.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def _free_name(name: str, taken: set[str]) -> str:
    n = 2
    while True:
        suffix = f"~{n}"
        candidate = name[: _MAX - len(suffix)] + suffix
        if _fold(candidate) not in taken:
            return candidate
        n += 1


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, username FROM users ORDER BY created_at, id")).all()
    taken = {_fold(name) for _, name in rows}
    keeper: dict[str, str] = {}
    for user_id, name in rows:
        key = _fold(name)
        if key not in keeper:
            keeper[key] = name
            continue
        new = _free_name(name, taken)
        taken.add(_fold(new))
        conn.execute(
            sa.text("UPDATE users SET username = :new WHERE id = :id"), {"new": new, "id": user_id}
        )
        log.warning(
            "user %s: username '%s' renamed to '%s': it differs only in case from the older "
            "account '%s', and usernames are now unique without regard to case",
            user_id,
            name,
            new,
            keeper[key],
        )
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    # Renamed accounts keep their new names: which name was whose is in the upgrade's log.
    op.drop_index("uq_users_username_lower", table_name="users")

"""Every domain of the platform, and what each brings: the one list the app (routers), the
job registry (handlers, periodic ticks), the audit middleware (nouns and verbs) and the
database metadata (models, hence Alembic) read. Adding a domain is its `domain.py` and
one line in `installed()` (docs/domains.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

    from taichu.config import Settings
    from taichu.jobs.registry import JobRegistry

RegisterJobs = Callable[["JobRegistry", "Settings"], None]


@dataclass(frozen=True)
class Domain:
    """What one domain brings.

    - `routers`: its `/api/v1` routers; `runtime_routers`: its runtime-family (`/api`)
      ones (included after every domain's `/api/v1` routers).
    - `register_jobs(registry, settings)`: its job kinds, hooks and periodic ticks.
    - `audit_nouns`: path segments naming its resources -> the singular recorded
      (`"backups": "backup"`); `audit_verbs`: path segments naming actions (`"restore"`).
    - `models`: the module of its tables (imported for the metadata and migrations).
    - `settings_section`: the name of its section of `taichu.config.Settings`
      (`TAICHU_<SECTION>__<FIELD>`), declared there with the others."""

    name: str
    routers: Sequence[APIRouter] = ()
    runtime_routers: Sequence[APIRouter] = ()
    register_jobs: RegisterJobs | None = None
    audit_nouns: Mapping[str, str] = field(default_factory=dict)
    audit_verbs: frozenset[str] = frozenset()
    models: ModuleType | None = None
    settings_section: str | None = None


def installed() -> list[Domain]:
    """The domains, in the order their routes are matched. Imported here, not at module
    load: each declaration imports its routes, which import the core."""
    from taichu.artifacts.domain import DOMAIN as artifacts
    from taichu.audit.domain import DOMAIN as audit
    from taichu.auth.domain import DOMAIN as auth
    from taichu.backups.domain import DOMAIN as backups
    from taichu.blacklist.domain import DOMAIN as blacklist
    from taichu.clusters.domain import DOMAIN as clusters
    from taichu.commands.domain import DOMAIN as commands
    from taichu.machines.domain import DOMAIN as machines
    from taichu.observe.domain import DOMAIN as observe
    from taichu.provision.domain import DOMAIN as provision
    from taichu.system.domain import DOMAIN as system
    from taichu.traffic.domain import DOMAIN as traffic
    from taichu.users.domain import DOMAIN as users
    from taichu.web.domain import DOMAIN as console

    return [
        system,
        auth,
        users,
        audit,
        provision,
        clusters,
        observe,
        backups,
        machines,
        artifacts,
        blacklist,
        commands,
        traffic,
        console,
    ]


def audit_vocabulary(domains: Sequence[Domain]) -> tuple[frozenset[str], dict[str, str]]:
    """(verbs, nouns) of all domains; two domains may not record one noun differently."""
    verbs: set[str] = set()
    nouns: dict[str, str] = {}
    for domain in domains:
        verbs |= domain.audit_verbs
        for segment, singular in domain.audit_nouns.items():
            if nouns.setdefault(segment, singular) != singular:
                raise ValueError(f"audit noun {segment!r} of {domain.name} is already declared")
    clash = verbs & set(nouns)
    if clash:
        raise ValueError(f"path segments declared both noun and verb: {sorted(clash)}")
    return frozenset(verbs), nouns

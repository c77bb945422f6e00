"""What one running Taichu process holds: settings, database, keys, workers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taichu.audit.integrity import chain_key
from taichu.commands.gate import CommandGate
from taichu.config import Settings
from taichu.crypto import SecretBox, jwt_signing_key, load_master_secret, secret_box
from taichu.datadir import private_dir
from taichu.db.session import make_engine, make_sessionmaker
from taichu.kube.access import AccessCache
from taichu.kube.limits import ReadLimits
from taichu.kube.manager import ConnectionManager
from taichu.observe.cache import ObserveHub
from taichu.ssh.client import SshPool
from taichu.system.metrics import Metrics

if TYPE_CHECKING:
    from taichu.jobs.runner import JobRunner


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    jwt_key: bytes
    audit_key: bytes  # keys the audit chain's MACs (taichu.audit.integrity)
    # SQLite: readers get their own connection pool, so a read never waits for a
    # connection that a writer holds while it queues for the write lock.
    read_engine: AsyncEngine | None = None
    jobs: JobRunner | None = None
    kube: ConnectionManager = field(default_factory=ConnectionManager)
    # Parsed platform accesses to clusters (`clusters.service.access_for`).
    accesses: AccessCache = field(default_factory=AccessCache)
    # Collector behind /metrics (the app hands in the one its middleware feeds).
    metrics: Metrics = field(default_factory=Metrics)
    # One gate for the whole process: health probes share the event loop with API
    # requests, and a few hundred in flight would queue every request behind them.
    probe_gate: asyncio.Semaphore = field(init=False)
    # Watch-fed caches of cluster contents (nodes, pods, events), started on first view.
    observe: ObserveHub = field(init=False)
    # SSH connections to machines, pooled per process (limits in `settings.ssh`), and the
    # gate of machine checks (`machines.check_concurrency`), like `probe_gate`.
    ssh: SshPool = field(init=False)
    machine_gate: asyncio.Semaphore = field(init=False)
    # The monitor's sweep has a gate of its own: machines that never answer hold its slots
    # for a whole connect timeout, and a check after a create or an update must not wait
    # behind them.
    sweep_gate: asyncio.Semaphore = field(init=False)
    # kubectl processes running for API requests (settings.commands: per user, in all).
    command_gate: CommandGate = field(init=False)

    def __post_init__(self) -> None:
        self.probe_gate = asyncio.Semaphore(self.settings.cluster_probe_concurrency)
        self.observe = ObserveHub(self.kube, self.settings.observe)
        self.ssh = SshPool(self.settings.ssh)
        self.machine_gate = asyncio.Semaphore(self.settings.machines.check_concurrency)
        self.sweep_gate = asyncio.Semaphore(self.settings.machines.check_concurrency)
        # Work outside a request (a periodic tick gets only a session: the blacklist's
        # auto-blocks) finds this process's settings and audit key on its session.
        info = {"taichu.settings": self.settings, "taichu.audit_key": self.audit_key}
        for maker in (self.sessions, self.read_sessions):
            maker.configure(info=info)
        commands = self.settings.commands
        self.command_gate = CommandGate(commands.per_user_concurrency, commands.global_concurrency)

    @classmethod
    def create(cls, settings: Settings) -> AppContext:
        private_dir(settings.data_dir)
        engine = make_engine(settings.resolved_database_url)
        read_engine = make_engine(settings.resolved_database_url) if settings.is_sqlite else None
        return cls(
            settings=settings,
            engine=engine,
            read_engine=read_engine,
            sessions=make_sessionmaker(engine),
            read_sessions=make_sessionmaker(read_engine or engine, read_only=True),
            kube=ConnectionManager(
                settings.kube.max_clients,
                connect_timeout=settings.kube.connect_timeout_seconds,
                request_timeout=settings.kube.request_timeout_seconds,
                limits=ReadLimits.of(settings.kube),
            ),
            box=secret_box(settings),
            jwt_key=jwt_signing_key(settings),
            audit_key=chain_key(load_master_secret(settings)),
        )

    async def close(self) -> None:
        await self.observe.close()  # its watches borrow kube clients: stop them first
        await self.kube.close_all()
        await self.ssh.close()
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()

"""What one running Taichu process holds: settings, database, keys, workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taichu.config import Settings
from taichu.crypto import SecretBox, jwt_signing_key, secret_box
from taichu.db.session import make_engine, make_sessionmaker
from taichu.kube.manager import ConnectionManager

if TYPE_CHECKING:
    from taichu.jobs.runner import JobRunner


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    jwt_key: bytes
    jobs: JobRunner | None = None
    kube: ConnectionManager = field(default_factory=ConnectionManager)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> AppContext:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            box=secret_box(settings),
            jwt_key=jwt_signing_key(settings),
        )

    async def close(self) -> None:
        await self.kube.close_all()
        await self.engine.dispose()

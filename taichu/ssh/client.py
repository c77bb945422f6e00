"""SshPool: pooled SSH connections to machines; SshSession: commands and uploads on one.

    async with pool.session(target) as ssh:
        result = await ssh.run("id -u", privileged=True)

A session leases one connection for its duration (several commands reuse it); when it
ends the connection goes back to the pool and is closed after `idle_seconds` unused.
Connections are bounded in total and per machine; a caller over the limit waits (at most
`pool_wait`), and an idle connection to another machine is closed to make room.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import asyncssh

from taichu.config import SshSettings
from taichu.ssh.dial import dial
from taichu.ssh.errors import SshError, SshTimeout
from taichu.ssh.session import CommandResult, SshSession
from taichu.ssh.target import SshTarget

log = logging.getLogger("taichu.ssh")

PoolKey = tuple[str, int, str, str, str | None, bool]
HostKey = tuple[str, int]


def _pool_key(target: SshTarget) -> PoolKey:
    # Connections are only shared by the same login: a digest of the credentials (kept in
    # memory only) tells two logins to one machine apart.
    c = target.credentials
    secret = "\0".join(x or "" for x in (c.password, c.private_key, c.passphrase))
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return (
        target.address,
        target.port,
        target.username,
        digest,
        target.host_key,
        target.become,
    )


@dataclass(eq=False)
class Connection:
    """One pooled SSH connection (and what was learnt about it)."""

    key: PoolKey
    conn: asyncssh.SSHClientConnection
    presented_host_key: str
    sudo_mode: str | None = None  # "nopasswd" | "password", probed once per connection
    uses: int = 0
    idle_since: float = 0.0
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def host(self) -> HostKey:
        return (self.key[0], self.key[1])

    def close(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        self.conn.close()

    @property
    def closed(self) -> bool:
        return self.conn.is_closed()


class SshPool:
    """One per process; bounded connections in total and per host."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._idle: dict[PoolKey, list[Connection]] = {}
        self._total = 0
        self._per_host: dict[HostKey, int] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self.dials = 0  # connections opened so far (tests and metrics read it)

    # --- public --------------------------------------------------------------------------

    def session(self, target: SshTarget) -> AbstractAsyncContextManager[SshSession]:
        return self._session(target)

    async def close(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for c in conns:
                c.close()
                self._forget(c.host)
        self._idle.clear()
        self._wake()

    @property
    def open_connections(self) -> int:
        return self._total

    # --- leasing -------------------------------------------------------------------------

    @asynccontextmanager
    async def _session(self, target: SshTarget) -> AsyncIterator[SshSession]:
        connection = await self._acquire(target)
        session = SshSession(self, target, connection)
        try:
            yield session
        finally:
            self._release(session.connection, broken=session.broken)

    async def _acquire(self, target: SshTarget) -> Connection:
        key = _pool_key(target)
        host: HostKey = (target.address, target.port)
        deadline = time.monotonic() + self.settings.pool_wait
        while True:
            if self._closed:
                raise SshError(target.address, "the SSH pool is closed")
            idle = self._idle.get(key)
            while idle:
                c = idle.pop()
                if c.expiry is not None:
                    c.expiry.cancel()
                    c.expiry = None
                if not c.closed:
                    c.uses += 1
                    return c
                self._forget(c.host)
            if self._has_room(host):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SshTimeout(
                    target.address,
                    f"{target.address}: no free SSH connection slot within "
                    f"{self.settings.pool_wait:g}s (pool limits reached)",
                )
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                pass
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        # A slot is ours (counted before the dial, so concurrent dials respect the limit).
        self._total += 1
        self._per_host[host] = self._per_host.get(host, 0) + 1
        try:
            return await self.dial(key, target)
        except BaseException:
            self._forget(host)
            raise

    async def dial(self, key: PoolKey, target: SshTarget) -> Connection:
        """A new connection for a slot already counted."""
        dialled = await dial(target, self.settings.connect_timeout)
        self.dials += 1
        return Connection(key, dialled.conn, dialled.presented_host_key, uses=1)

    def _has_room(self, host: HostKey) -> bool:
        s = self.settings
        if self._per_host.get(host, 0) >= s.max_per_host:
            # Full for this machine: an idle connection of another login to it may go.
            return self._evict_idle(lambda c: c.host == host)
        if self._total >= s.max_connections:
            return self._evict_idle(lambda c: True)
        return True

    def _evict_idle(self, match: object) -> bool:
        oldest: Connection | None = None
        for conns in self._idle.values():
            for c in conns:
                if match(c) and (oldest is None or c.idle_since < oldest.idle_since):  # type: ignore[operator]
                    oldest = c
        if oldest is None:
            return False
        self._drop_idle(oldest)
        return True

    def _release(self, c: Connection, *, broken: bool) -> None:
        if broken or self._closed or c.closed or self.settings.idle_seconds <= 0:
            c.close()
            self._forget(c.host)
            return
        c.idle_since = time.monotonic()
        c.expiry = asyncio.get_running_loop().call_later(
            self.settings.idle_seconds, self._drop_idle, c
        )
        self._idle.setdefault(c.key, []).append(c)
        self._wake()

    def _drop_idle(self, c: Connection) -> None:
        conns = self._idle.get(c.key, [])
        if c in conns:
            conns.remove(c)
            if not conns:
                del self._idle[c.key]
            c.close()
            self._forget(c.host)

    def _forget(self, host: HostKey) -> None:
        """A slot is free again."""
        self._total -= 1
        left = self._per_host.get(host, 0) - 1
        if left > 0:
            self._per_host[host] = left
        else:
            self._per_host.pop(host, None)
        self._wake()

    def _wake(self) -> None:
        # Every waiter looks again; the ones that find no room wait anew.
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)


__all__ = ["CommandResult", "Connection", "SshPool", "SshSession"]

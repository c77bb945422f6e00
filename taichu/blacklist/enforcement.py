"""Enforcement of the blacklist at the HTTP edge: a pure ASGI middleware that answers a
blocked address 403 before authentication, routing or reading the body, on every path.

The entries live in memory (`Blocklist`): loaded at start, reloaded every
`TAICHU_BLACKLIST__REFRESH_SECONDS` (≤ 5 s) so changes made on another replica apply, and
changed at once on the replica that made them. Expiry is checked per request, so an
expired entry stops applying without waiting for a reload. Matched requests are counted
in memory and written in one batch every `hits_flush_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from taichu.api.client import client_address
from taichu.api.errors import is_runtime_path
from taichu.blacklist import networks
from taichu.blacklist.models import BLOCK, BlacklistEntry
from taichu.blacklist.service import ActiveEntry, active_entries, add_hits
from taichu.config import BlacklistSettings
from taichu.db.session import transaction
from taichu.timeutil import utcnow

if TYPE_CHECKING:
    from taichu.context import AppContext

log = logging.getLogger("taichu.blacklist")

# Set in the ASGI scope of a request refused because its address is blocked (the traffic
# sampler, outside this middleware, counts it as `blocked`, never as evidence), and of one
# that matched a `monitor` entry.
BLOCKED_SCOPE_KEY = "taichu.blocked"
MONITORED_SCOPE_KEY = "taichu.monitored"


@dataclass(frozen=True)
class Rule:
    entry_id: str
    network: networks.Network
    action: str
    expires_at: float | None  # POSIX seconds; None: until removed

    @classmethod
    def of(cls, entry: BlacklistEntry | ActiveEntry, reuse: Rule | None = None) -> Rule:
        expires = entry.expires_at.timestamp() if entry.expires_at is not None else None
        if reuse is not None and (reuse.action, reuse.expires_at) == (entry.action, expires):
            return reuse  # an entry's ip never changes: no need to parse it again
        return cls(entry.id, networks.parse_network(entry.ip), entry.action, expires)


class RuleIndex:
    """Rules by IP version and prefix length, then by network number: a lookup is one
    dict probe per prefix length in use, whatever the number of entries."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        tables: dict[tuple[int, int], dict[int, list[Rule]]] = {}
        for rule in rules:
            key = (rule.network.version, rule.network.prefixlen)
            tables.setdefault(key, {}).setdefault(int(rule.network.network_address), []).append(
                rule
            )
        self.size = sum(len(r) for t in tables.values() for r in t.values())
        self._levels: dict[int, list[tuple[int, dict[int, list[Rule]]]]] = {4: [], 6: []}
        for (version, prefix), table in sorted(tables.items(), key=lambda kv: -kv[0][1]):
            bits = 32 if version == 4 else 128
            mask = ((1 << prefix) - 1) << (bits - prefix)
            self._levels[version].append((mask, table))

    def match(self, address: networks.Address, now: float) -> Rule | None:
        """The deciding rule for `address`: a block if any applies, else a monitor."""
        value = int(address)
        found: Rule | None = None
        for mask, table in self._levels[address.version]:
            for rule in table.get(value & mask, ()):
                if rule.expires_at is not None and rule.expires_at <= now:
                    continue
                if rule.action == BLOCK:
                    return rule
                found = found or rule
        return found


class Blocklist:
    """The entries one server enforces, and the hits it has not written yet."""

    def __init__(self, settings: BlacklistSettings) -> None:
        self.settings = settings
        self.allow = [networks.parse_network_loose(n) for n in settings.allow]
        self._rules: dict[str, Rule] = {}
        self._index = RuleIndex(())
        self._hits: dict[str, int] = {}
        self._changes = 0  # local changes: a reload that raced one is not applied
        self._ctx: AppContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    # --- per request ----------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return self._index.size == 0

    def check(self, client: str | None) -> Rule | None:
        """The rule that applies to a request from `client` (counted as a hit), or None.
        Allow-listed addresses are never blocked (a monitor entry still flags them)."""
        if self._index.size == 0:
            return None
        address = networks.parse_address(client)
        if address is None:
            return None
        rule = self._index.match(address, time.time())
        if rule is None:
            return None
        if rule.action == BLOCK and networks.contains(self.allow, address):
            return None
        self._hits[rule.entry_id] = self._hits.get(rule.entry_id, 0) + 1
        return rule

    # --- local changes --------------------------------------------------------------------

    def _replace(self, rules: dict[str, Rule]) -> None:
        self._rules = rules
        self._index = RuleIndex(rules.values())

    def put(self, entry: BlacklistEntry) -> None:
        self._changes += 1
        self._replace({**self._rules, entry.id: Rule.of(entry)})

    def drop(self, entry_id: str) -> None:
        self._changes += 1
        self._replace({k: v for k, v in self._rules.items() if k != entry_id})

    def after_commit(self, session: AsyncSession, change: Callable[[], None]) -> None:
        """Apply `change` here once `session` commits (not at all if it rolls back); other
        replicas see it at their next reload."""
        event.listen(session.sync_session, "after_commit", lambda _s: change(), once=True)

    # --- life -----------------------------------------------------------------------------

    async def start(self, ctx: AppContext) -> None:
        """Load before the first request is served, then keep reloading."""
        self._ctx = ctx
        await self.reload()
        self._task = asyncio.create_task(self._run(), name="blacklist-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._ctx is not None:
            try:
                await self.flush_hits()
            except Exception:
                log.warning(
                    "blacklist hits of the last %ss are lost", self.settings.hits_flush_seconds
                )

    async def reload(self) -> None:
        assert self._ctx is not None
        changes = self._changes
        async with self._ctx.read_sessions() as session:
            entries = await active_entries(session, utcnow())
        rules = {e.id: Rule.of(e, self._rules.get(e.id)) for e in entries}
        if changes == self._changes:
            self._replace(rules)

    async def flush_hits(self) -> None:
        assert self._ctx is not None
        counts, self._hits = self._hits, {}
        if not counts:
            return
        try:
            async with transaction(self._ctx.sessions) as session:
                await add_hits(session, counts, utcnow())
        except BaseException:
            for entry_id, n in counts.items():  # kept for the next flush
                self._hits[entry_id] = self._hits.get(entry_id, 0) + n
            raise

    async def _run(self) -> None:
        refresh = self.settings.refresh_seconds
        next_flush = time.monotonic() + self.settings.hits_flush_seconds
        while True:
            await asyncio.sleep(refresh)
            try:
                await self.reload()
                if time.monotonic() >= next_flush:
                    next_flush = time.monotonic() + self.settings.hits_flush_seconds
                    await self.flush_hits()
                if self._failing:
                    log.info("blacklist reloads again")
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # The last list stays in force; said once, not every few seconds.
                if not self._failing:
                    log.warning("blacklist cannot be reloaded (the last one applies): %s", e)
                self._failing = True


class BlacklistMiddleware:
    """Refuses blocked addresses first thing; flags monitored ones in the scope."""

    def __init__(self, app: ASGIApp, blocklist: Blocklist) -> None:
        self.app = app
        self.blocklist = blocklist

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.blocklist.empty:
            await self.app(scope, receive, send)
            return
        rule = self.blocklist.check(client_address(scope))
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.action != BLOCK:
            scope[MONITORED_SCOPE_KEY] = True
            await self.app(scope, receive, send)
            return
        scope[BLOCKED_SCOPE_KEY] = True
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: 403
            return
        await _refuse(scope, send, client_address(scope))


def _declares_body(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _refuse(scope: Scope, send: Send, client: str | None) -> None:
    message = f"Forbidden: requests from {client} are blocked"
    if is_runtime_path(scope["path"]):
        payload: dict[str, object] = {"detail": message}
    else:
        payload = {"code": 403, "message": message, "data": None}
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if _declares_body(scope):
        # The body is never read: close rather than let the client keep sending it.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})

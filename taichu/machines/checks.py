"""Checking machines over SSH: connect (through the process's pool), sudo works, gather
the facts; then record the outcome. One check job after a create, an update or on
demand; the reachability monitor (taichu.machines.monitor) runs the same code in shards.

No transaction is open while a machine is talked to: the machine is read, the session
released, the check run, and the outcome written in a short transaction of its own,
only over an older observation (a slow check never overwrites a newer one)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.config import Settings
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import Invalid, TaichuError, Unavailable
from taichu.jobs.monitor import is_newer
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.machines import events, service
from taichu.machines.facts import MachineFacts, check_access, gather_facts
from taichu.machines.models import Machine, kept_by_checks
from taichu.machines.schemas import HostKeyIn
from taichu.ssh.errors import SshError, SshHostKeyMismatch
from taichu.ssh.target import SshTarget, fingerprint
from taichu.timeutil import utcnow

MAX_ERROR = 1000
log = logging.getLogger("taichu.machines")


@dataclass(frozen=True)
class Observation:
    """What one check saw: facts (it worked) or a reason and message (it did not)."""

    facts: MachineFacts | None = None
    presented_host_key: str | None = None
    reason: str | None = None
    error: str | None = None


async def observe(
    app: AppContext, target: SshTarget, gate: asyncio.Semaphore | None = None
) -> Observation:
    """Connect, check sudo, gather facts, bounded by the check timeout and a check gate
    (default: the process's, `app.machine_gate`). Never raises for what the machine
    does: that is the observation."""
    timeout = app.settings.machines.check_timeout_seconds
    async with gate or app.machine_gate:
        try:
            async with asyncio.timeout(timeout):
                async with app.ssh.session(target) as ssh:
                    await check_access(ssh, target)
                    facts = await gather_facts(ssh)
                    presented = ssh.presented_host_key
        except SshError as e:
            return Observation(reason=e.reason, error=e.message[:MAX_ERROR])
        except TimeoutError:
            return Observation(
                reason="timeout",
                error=f"the check of {target.address} took longer than {timeout:g}s",
            )
        except TaichuError as e:
            return Observation(reason="error", error=e.message[:MAX_ERROR])
        except Exception:
            # A defect, not the machine's answer: logged, and the other machines of the
            # shard are still checked and recorded.
            log.exception("check of %s:%d failed unexpectedly", target.address, target.port)
            return Observation(reason="error", error="the check failed (see the server log)")
    return Observation(facts=facts, presented_host_key=presented)


def _against_pin(machine: Machine, seen: Observation) -> Observation:
    """The observation, or a host-key mismatch when the machine's key was pinned (by a
    concurrent check's first use, or an operator) after this check connected, to a key
    other than the one it saw: its facts come from a host nobody trusts."""
    presented = seen.presented_host_key
    if seen.facts is None or not machine.host_key or not presented:
        return seen
    if machine.host_key == presented:  # both normalized: by the service and the adapter
        return seen
    mismatch = SshHostKeyMismatch(machine.ip_address, machine.host_key, presented)
    return Observation(reason=mismatch.reason, error=mismatch.message[:MAX_ERROR])


def _apply(machine: Machine, seen: Observation, started_at: datetime) -> None:
    # Compared here, on the row locked by the writing transaction, never before.
    seen = _against_pin(machine, seen)
    machine.last_check_started_at = started_at
    machine.last_checked_at = utcnow()
    kept = kept_by_checks(machine)
    if seen.facts is not None:
        machine.facts = seen.facts.to_json()
        machine.reachable, machine.check_reason, machine.check_error = True, None, None
        if machine.host_key is None and seen.presented_host_key:
            machine.host_key, machine.host_key_source = seen.presented_host_key, "first_use"
        if not kept:
            machine.status, machine.status_message = "available", ""
            machine.status_source = "check"
        return
    machine.reachable, machine.check_reason, machine.check_error = False, seen.reason, seen.error
    if not kept:
        machine.status, machine.status_message = "unavailable", seen.error or seen.reason or ""
        machine.status_source = "check"


async def record_observations(
    session: AsyncSession,
    seen: dict[str, Observation],
    started_at: datetime,
    component: str,
) -> int:
    """Write what checks that started at `started_at` saw; returns how many were written.
    A machine whose recorded check started later keeps it; the row lock orders
    concurrent writers on PostgreSQL."""
    written = 0
    query = select(Machine).where(Machine.id.in_(list(seen))).order_by(Machine.id)
    for machine in await session.scalars(query.with_for_update()):
        if not is_newer(machine.last_check_started_at, started_at):
            continue
        old_status, was_reachable, old_key = machine.status, machine.reachable, machine.host_key
        _apply(machine, seen[machine.id], started_at)
        written += 1
        if old_key is None and machine.host_key is not None:
            await events.record(
                session,
                machine.id,
                reason="HostKeyRecorded",
                severity="info",
                message=f"Host key of {machine.ip_address} recorded at first use: "
                f"{fingerprint(machine.host_key)}",
                component=component,
            )
        if old_status != machine.status:
            await events.record_transition(
                session,
                machine.id,
                machine.name,
                old_status,
                machine.status,
                machine.check_error,
                component,
            )
        elif was_reachable is not None and was_reachable != machine.reachable:
            await events.record_reachability(
                session, machine.id, machine.name, machine.status, machine.check_error
            )
    return written


async def check_and_record(
    app: AppContext,
    ids: Sequence[str],
    component: str,
    *,
    skip: Sequence[str] = (),
    gate: asyncio.Semaphore | None = None,
) -> dict[str, int]:
    """Check these machines (but those whose status is in `skip`) concurrently, bounded
    by `gate` (see `observe`), and record every outcome in one short transaction."""
    started_at = utcnow()
    targets: dict[str, SshTarget] = {}
    async with app.read_sessions() as session:
        for machine in await session.scalars(select(Machine).where(Machine.id.in_(list(ids)))):
            if machine.status not in skip:
                targets[machine.id] = service.target_for(machine, app.box)
    if not targets:
        return {"checked": 0, "available": 0, "stale": 0}

    async def one(machine_id: str, target: SshTarget) -> tuple[str, Observation]:
        return machine_id, await observe(app, target, gate)

    seen = dict(await asyncio.gather(*(one(i, t) for i, t in targets.items())))
    async with transaction(app.sessions) as session:
        written = await record_observations(session, seen, started_at, component)
    return {
        "checked": len(seen),
        "available": sum(o.facts is not None for o in seen.values()),
        "stale": len(seen) - written,
    }


async def run_check(job: JobContext) -> dict[str, Any]:
    return await check_and_record(job.app, [job.payload["machine_id"]], "machine-check")


async def _presented_key(app: AppContext, target: SshTarget) -> str:
    """The key the machine presents now. Against the pinned key a mismatch carries what
    was presented (before any credential is sent, whatever its key type); with nothing
    pinned, the connection of a first use shows it."""
    timeout = app.settings.machines.check_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            async with app.ssh.session(target) as ssh:
                return ssh.presented_host_key
    except SshHostKeyMismatch as e:
        return e.presented
    except SshError as e:
        raise Unavailable(f"host key of {target.address} could not be fetched: {e.message}") from e
    except TimeoutError as e:
        raise Unavailable(
            f"host key of {target.address} could not be fetched: no answer within {timeout:g}s"
        ) from e


async def repin_host_key(
    app: AppContext, session: AsyncSession, machine_id: str, body: HostKeyIn, by: Principal
) -> Machine:
    """Pin a new host key (given, or the one the machine presents now) and check again."""
    if bool(body.host_key) == body.accept_current:
        raise Invalid("host_key: give either host_key or accept_current: true")
    if body.host_key:
        new_key, source = service.pinned_key(body.host_key), "given"
    else:
        async with app.read_sessions() as reader:  # no transaction open while connecting
            target = service.target_for(await service.get_machine(reader, machine_id), app.box)
        new_key, source = await _presented_key(app, target), "first_use"
    machine = await service.get_machine(session, machine_id, for_update=True)
    old_key = machine.host_key
    machine.host_key, machine.host_key_source = new_key, source
    await session.flush()
    was = f" (was {fingerprint(old_key)})" if old_key else ""
    await events.record(
        session,
        machine.id,
        reason="HostKeyPinned",
        severity="warning" if old_key and old_key != new_key else "info",
        message=f"Host key of {machine.ip_address} pinned by {by.username}: "
        f"{fingerprint(new_key or '')}{was}",
        component="operator",
    )
    await service.enqueue_check(session, machine.id)
    audit.note(
        resource="machine",
        resource_id=machine.id,
        old_value={"host_key": old_key},
        new_value={"host_key": new_key, "host_key_source": source},
    )
    return machine


def register(registry: JobRegistry, settings: Settings) -> None:
    # The check bounds itself; this only catches a handler stuck past it.
    limit = settings.machines.check_timeout_seconds + 60
    registry.handler(service.CHECK_KIND, max_attempts=1, timeout_seconds=limit)(run_check)

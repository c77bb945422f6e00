"""Preflight of stored machines: fresh facts over SSH, then the pure `preflight()`.

No transaction stays open while machines answer: the targets are read (and their
credentials decrypted) in a short read-only session, released, then every machine is
asked at once, bounded in concurrency and time (each check, and the whole
request). A machine that does not answer is a
failed check naming why, never an error of the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from taichu.context import AppContext
from taichu.errors import Invalid
from taichu.machines import checks, service
from taichu.machines.facts import MachineFacts
from taichu.machines.preflight import ROLES, MachineRef, PreflightPolicy, PreflightReport, preflight
from taichu.ssh.target import SshTarget

MAX_MACHINES = 200


def validate_request(
    ids: Sequence[str], roles: Mapping[str, str] | None, *, one: bool = False
) -> None:
    """Rules of a preflight request (types were checked by the schema)."""
    if not ids:
        raise Invalid("machine_ids: give at least one machine id")
    if len(ids) > MAX_MACHINES:
        raise Invalid(f"machine_ids: {len(ids)} machines; at most {MAX_MACHINES} at once")
    seen: set[str] = set()
    for mid in ids:
        if mid in seen:
            raise Invalid(f"machine_ids: {mid[:64]!r} is listed twice")
        seen.add(mid)
    for mid, role in (roles or {}).items():
        if mid not in seen:
            raise Invalid(f"roles: {mid[:64]!r} is not one of machine_ids")
        if role not in ROLES:
            where = "role" if one else f"roles.{mid[:64]}"
            raise Invalid(f"{where}: must be one of {', '.join(ROLES)}")


async def run_preflight(
    ctx: AppContext,
    ids: Sequence[str],
    roles: Mapping[str, str] | None = None,
    *,
    one: bool = False,
    policy: PreflightPolicy | None = None,
) -> PreflightReport:
    """`one`: `ids` is the single machine of a path (an unknown one is NotFound, 404);
    `policy`: the thresholds (default: `PreflightPolicy()`)."""
    validate_request(ids, roles, one=one)
    async with ctx.read_sessions() as session:
        if one:
            await service.get_machine(session, ids[0])
        pairs = await service.machine_targets(session, ids, ctx.box)
    refs = {m.id: MachineRef(m.id, m.name, m.ip_address) for m, _ in pairs}
    intended = {m.id: (roles or {}).get(m.id) or m.role for m, _ in pairs}
    facts: dict[str, MachineFacts] = {}
    unreachable: dict[str, str] = {}

    async def ask(mid: str, target: SshTarget) -> None:
        outcome = await facts_of(ctx, mid, target)
        if isinstance(outcome, str):
            unreachable[mid] = outcome
        else:
            facts[mid] = outcome

    # One deadline for the whole request: waiting for a slot of the check gate is not
    # bounded by the check timeout, so many silent machines would hold it for minutes.
    limit = ctx.settings.machines.preflight_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            await asyncio.gather(*(ask(m.id, target) for m, target in pairs))
    except TimeoutError:
        late = f"not checked within {limit:g}s (setting machines.preflight_timeout_seconds)"
        for m, _ in pairs:
            if m.id not in facts and m.id not in unreachable:
                unreachable[m.id] = late
    return preflight(
        facts,
        intended,
        platform_settings=policy or PreflightPolicy(),
        machines=refs,
        unreachable=unreachable,
    )


async def facts_of(ctx: AppContext, machine_id: str, target: SshTarget) -> MachineFacts | str:
    """Fresh facts, or why there are none (one sentence). The check's own way in: the
    process's check gate, its timeout, sudo verified; nothing is recorded."""
    if target.host_key is None:
        # Never send its credentials to a host whose key nobody pinned: the check does.
        return (
            "its host key is not pinned yet: check it first "
            f"(POST /api/v1/machines/{machine_id}/check)"
        )
    seen = await checks.observe(ctx, target)
    if seen.facts is None:
        return seen.error or seen.reason or "no facts"
    return seen.facts

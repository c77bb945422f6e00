"""The machine inventory: add, change, list, remove machines and set their status. The
checks over SSH are `taichu.machines.checks`; this module only enqueues them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.auth.principal import Principal
from taichu.clusters.selectors import labelled_page
from taichu.context import AppContext
from taichu.crypto import SecretBox
from taichu.db.search import contains_text
from taichu.errors import Conflict, Invalid, NotFound
from taichu.jobs import service as jobs
from taichu.jobs.models import Job
from taichu.machines import events
from taichu.machines.credentials import (
    CREDENTIALS,
    resolve_secrets,
    store_secrets,
    stored_secrets,
)
from taichu.machines.models import BUSY, OPERATOR_STATUSES, Machine
from taichu.machines.schemas import MachineIn
from taichu.ssh.target import SshCredentials, SshTarget, fingerprint, normalize_host_key

CHECK_KIND = "machine.check"
# What a change of makes the last check's verdict stale.
CONNECTION_FIELDS = ("ip_address", "port", "user", "become", "host_key", *CREDENTIALS)
NOT_CHECKED = "waiting for the first check"


def check_dedup_key(machine_id: str) -> str:
    return f"machine-check:{machine_id}"


async def enqueue_check(session: AsyncSession, machine_id: str) -> Job:
    """A check of this machine, in the caller's transaction (one queued per machine)."""
    return await jobs.enqueue(
        session,
        CHECK_KIND,
        {"machine_id": machine_id},
        dedup_key=check_dedup_key(machine_id),
        max_attempts=1,
    )


def pinned_key(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    try:
        return normalize_host_key(text)
    except ValueError as e:
        raise Invalid(str(e)) from e  # the adapter's messages name `host_key`


def host_key_fingerprint(machine: Machine) -> str | None:
    return fingerprint(machine.host_key) if machine.host_key else None


def target_for(machine: Machine, box: SecretBox) -> SshTarget:
    """How the platform reaches this machine (credentials decrypted)."""
    secrets = stored_secrets(machine, box)
    return SshTarget(
        address=machine.ip_address,
        username=machine.user,
        credentials=SshCredentials(secrets.password, secrets.private_key, secrets.passphrase),
        port=machine.port,
        host_key=machine.host_key,
        become=machine.become,
    )


async def machine_targets(
    session: AsyncSession, ids: Sequence[str], box: SecretBox
) -> list[tuple[Machine, SshTarget]]:
    """The machines `ids` (in that order, each once) with their targets; Invalid naming
    the first id that is not a machine."""
    wanted = list(dict.fromkeys(ids))
    for machine_id in wanted:
        if not _is_uuid(machine_id):
            raise Invalid(f"machine_ids: {str(machine_id)[:64]!r} is not a machine id")
    found = {m.id: m for m in await session.scalars(select(Machine).where(Machine.id.in_(wanted)))}
    for machine_id in wanted:
        if machine_id not in found:
            raise Invalid(f"machine_ids: machine {machine_id} not found")
    return [(found[i], target_for(found[i], box)) for i in wanted]


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _audit_view(machine: Machine) -> dict[str, Any]:
    """What the audit log records of a machine: never a credential."""
    return {
        "name": machine.name,
        "ip_address": machine.ip_address,
        "port": machine.port,
        "user": machine.user,
        "role": machine.role,
        "labels": machine.labels,
        "status": machine.status,
        "host_key": machine.host_key,
    }


async def _conflict(session: AsyncSession, body: MachineIn, exclude: str | None) -> None:
    for column, value, field in (
        (Machine.ip_address, body.ip_address, "ip_address"),
        (Machine.name, body.name, "name"),
    ):
        query = select(Machine.id).where(column == value)
        if exclude is not None:
            query = query.where(Machine.id != exclude)
        if await session.scalar(query) is not None:
            raise Conflict(f"{field}: a machine with {field} {value} already exists")


async def _write_unique(
    session: AsyncSession, body: MachineIn, exclude: str | None, change: Callable[[], None]
) -> None:
    """Make `change` (add or modify a machine) and flush it in a savepoint: a unique
    violation (two requests racing past `_conflict`) is the same 409, and the request's
    transaction stays usable. The change is made inside the savepoint because opening
    one flushes what is pending, which would fail outside it."""
    try:
        async with session.begin_nested():
            change()
    except IntegrityError as e:
        await _conflict(session, body, exclude)
        raise Conflict(f"ip_address or name: a machine with {body.ip_address} exists") from e


def _apply(machine: Machine, body: MachineIn) -> None:
    machine.name = body.name
    machine.ip_address = body.ip_address
    machine.internal_address = body.internal_address or body.ip_address
    machine.port = body.port
    machine.user = body.user
    machine.become = body.user != "root" if body.become is None else body.become
    machine.role = body.role
    machine.artifact_path = body.artifact_path
    machine.image_repo = body.image_repo
    machine.registry_address = body.registry_address
    machine.labels = body.labels


async def create_machine(
    session: AsyncSession, box: SecretBox, body: MachineIn, owner: Principal | None
) -> Machine:
    """Store a machine (credentials encrypted) and enqueue its first check. `owner` None:
    the platform's own (e.g. `taichu machines import`)."""
    host_key = pinned_key(body.host_key)
    secrets = await resolve_secrets(body, None)  # before any database work: slow
    await _conflict(session, body, None)
    machine = Machine(
        status="unavailable",
        status_message=NOT_CHECKED,
        host_key=host_key,
        host_key_source="given" if host_key else None,
        created_by=owner.username if owner else None,
    )
    _apply(machine, body)
    store_secrets(machine, box, secrets)
    await _write_unique(session, body, None, lambda: session.add(machine))
    await enqueue_check(session, machine.id)
    audit.note(resource="machine", resource_id=machine.id, new_value=_audit_view(machine))
    return machine


async def update_machine(
    app: AppContext, session: AsyncSession, machine_id: str, body: MachineIn
) -> Machine:
    """Replace a machine's fields (omitted credentials and host key are kept) and enqueue
    a check. A change of how it is reached makes the last verdict stale: an available
    machine is unavailable until the check says otherwise."""
    host_key = pinned_key(body.host_key) if "host_key" in body.model_fields_set else None
    box = app.box
    # Read apart from the request's transaction: checking a key is slow, and on SQLite
    # that transaction holds the write lock from its first statement.
    async with app.read_sessions() as reader:
        stored = stored_secrets(await get_machine(reader, machine_id), box)
    secrets = await resolve_secrets(body, stored)
    machine = await get_machine(session, machine_id, for_update=True)
    await _conflict(session, body, machine.id)
    old = _audit_view(machine)
    before = (machine.ip_address, machine.port, machine.user, machine.become, machine.host_key)
    changed_secrets = bool(set(CREDENTIALS) & body.model_fields_set) and secrets != stored

    def change() -> None:
        _apply(machine, body)
        if "host_key" in body.model_fields_set:
            machine.host_key = host_key
            machine.host_key_source = "given" if host_key else None
        after = (machine.ip_address, machine.port, machine.user, machine.become, machine.host_key)
        store_secrets(machine, box, secrets)
        if (before != after or changed_secrets) and machine.status == "available":
            machine.status, machine.status_source = "unavailable", "check"
            machine.status_message = "waiting for the check after an update"

    await _write_unique(session, body, machine.id, change)
    await enqueue_check(session, machine.id)
    audit.note(
        resource="machine", resource_id=machine.id, old_value=old, new_value=_audit_view(machine)
    )
    return machine


async def get_machine(
    session: AsyncSession, machine_id: str, *, for_update: bool = False
) -> Machine:
    machine = None
    if _is_uuid(machine_id):
        query = select(Machine).where(Machine.id == machine_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        machine = await session.scalar(query)
    if machine is None:
        raise NotFound(f"machine {machine_id[:64]} not found")
    return machine


async def list_machines(
    session: AsyncSession,
    *,
    status: str | None,
    role: str | None,
    label_selector: str | None,
    search: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Machine], int]:
    query = select(Machine)
    if status:
        query = query.where(Machine.status == status)
    if role:
        query = query.where(Machine.role == role)
    if search:
        query = query.where(
            contains_text(search, Machine.name, Machine.ip_address, Machine.internal_address)
        )
    query = query.order_by(Machine.created_at, Machine.id)
    return await labelled_page(
        session,
        query,
        label_selector=label_selector,
        id_column=Machine.id,
        offset=offset,
        limit=limit,
    )


async def delete_machine(session: AsyncSession, machine_id: str) -> None:
    machine = await get_machine(session, machine_id, for_update=True)
    if machine.status in BUSY:
        raise Conflict(f"machine {machine.name} is {machine.status}: it cannot be deleted now")
    audit.note(resource="machine", resource_id=machine.id, old_value=_audit_view(machine))
    await session.delete(machine)
    await session.flush()


async def set_status(
    session: AsyncSession, machine_id: str, status: str, message: str, by: Principal
) -> Machine:
    """An operator's status. `available` is verified: a check follows at once."""
    if status not in OPERATOR_STATUSES:
        raise Invalid(f"status: an operator may set {', '.join(OPERATOR_STATUSES)}")
    machine = await get_machine(session, machine_id, for_update=True)
    if machine.status in BUSY:
        raise Conflict(
            f"machine {machine.name} is {machine.status}: the cluster lifecycle owns its status"
        )
    old = machine.status
    machine.status, machine.status_message, machine.status_source = status, message, "operator"
    await session.flush()
    if old != status:
        detail = f"{message} (by {by.username})" if message else f"by {by.username}"
        await events.record_transition(
            session, machine.id, machine.name, old, status, detail, component="operator"
        )
    if status == "available":
        await enqueue_check(session, machine.id)
    audit.note(
        resource="machine",
        resource_id=machine.id,
        old_value={"status": old},
        new_value={"status": status, "message": message},
    )
    return machine

"""Pure rules of the inventory: address and status spellings, which credentials a machine
ends up with after an update, and what one check's outcome does to a machine's status."""

from __future__ import annotations

from datetime import timedelta

import asyncssh
import pytest

from taichu.errors import Invalid
from taichu.machines.checks import Observation, _apply
from taichu.machines.credentials import Secrets, resolve_secrets
from taichu.machines.facts import MachineFacts
from taichu.machines.models import KEPT_BY_CHECKS, Machine
from taichu.machines.schemas import MachineIn, normalize_address, normalize_status
from taichu.ssh.target import fingerprint, normalize_host_key
from taichu.timeutil import utcnow


def test_addresses_have_one_spelling() -> None:
    assert normalize_address(" 2001:0db8:0:0::1 ") == "2001:db8::1"
    assert normalize_address("10.0.0.5") == "10.0.0.5"
    for bad in ("10.0.0", "010.0.0.5", "host.example", "0.0.0.0", "224.0.0.1", "::"):
        with pytest.raises(ValueError):
            normalize_address(bad)


def test_in_use_is_accepted_in_both_spellings() -> None:
    assert normalize_status("in-use") == "in_use"
    assert normalize_status("IN_USE") == "in_use"
    with pytest.raises(ValueError):
        normalize_status("sleeping")


def body(**fields: object) -> MachineIn:
    values: dict[str, object] = {"name": "m", "ip_address": "10.0.0.5", "role": "worker"}
    values.update(fields)
    return MachineIn.model_validate(values)


def test_secrets_keep_their_whitespace() -> None:
    assert body(password="  spaced  ").password == "  spaced  "


async def test_update_keeps_omitted_credentials_and_refuses_none() -> None:
    stored = Secrets("old-password", None, None)
    assert await resolve_secrets(body(labels={}), stored) == stored
    assert (await resolve_secrets(body(password="new"), stored)).password == "new"
    with pytest.raises(Invalid, match="password"):
        await resolve_secrets(body(password=None), stored)
    with pytest.raises(Invalid, match="password"):
        await resolve_secrets(body(), None)
    with pytest.raises(Invalid, match="passphrase"):
        await resolve_secrets(body(password="p", passphrase="pp"), None)


async def test_a_new_key_needs_its_own_passphrase() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    encrypted = key.export_private_key("pkcs8-pem", passphrase="right").decode()
    stored = Secrets(None, encrypted, "right")
    # Changing only the password keeps key and passphrase (not re-checked).
    assert (await resolve_secrets(body(password="p"), stored)).passphrase == "right"
    with pytest.raises(Invalid, match="passphrase"):
        await resolve_secrets(body(private_key=encrypted), stored)
    with pytest.raises(Invalid, match="passphrase"):
        await resolve_secrets(body(passphrase="wrong"), stored)
    plain = key.export_private_key().decode()
    assert (await resolve_secrets(body(private_key=plain), stored)).passphrase is None


def machine(status: str) -> Machine:
    return Machine(name="m", ip_address="10.0.0.5", status=status, status_message="by hand")


def test_a_check_sets_available_or_unavailable_with_the_reason() -> None:
    m = machine("unavailable")
    seen = Observation(reason="authentication", error="authentication failed for root@10.0.0.5")
    _apply(m, seen, utcnow())
    assert (m.status, m.status_message) == ("unavailable", seen.error)
    assert (m.reachable, m.check_reason) == (False, "authentication")


@pytest.mark.parametrize("status", KEPT_BY_CHECKS)
def test_a_check_keeps_operator_and_lifecycle_statuses(status: str) -> None:
    m = machine(status)
    started = utcnow() - timedelta(seconds=1)
    _apply(m, Observation(reason="refused", error="connection refused"), started)
    assert (m.status, m.status_message) == (status, "by hand")
    assert m.reachable is False and m.check_error == "connection refused"
    assert m.last_check_started_at == started


FACTS = MachineFacts.from_json({"hostname": "node-a", "cpu_cores": 2, "memory_bytes": 2**30})
KEY, OTHER_KEY = (
    normalize_host_key(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode())
    for _ in range(2)
)


def test_a_passed_check_makes_available_and_records_the_first_key() -> None:
    m = machine("unavailable")
    m.status_source = "check"
    _apply(m, Observation(facts=FACTS, presented_host_key=KEY), utcnow())
    assert (m.status, m.status_message, m.reachable) == ("available", "", True)
    assert (m.host_key, m.host_key_source) == (KEY, "first_use")
    assert m.facts is not None and m.facts["hostname"] == "node-a"
    # The same key seen again keeps the machine available.
    _apply(m, Observation(facts=FACTS, presented_host_key=KEY), utcnow())
    assert (m.status, m.reachable, m.host_key) == ("available", True, KEY)


def test_facts_seen_under_another_key_than_the_pin_are_a_mismatch() -> None:
    """A check that connected while nothing was pinned, recording after another check (or
    an operator) pinned a different key: never trusted, the pin is kept."""
    m = machine("available")
    m.status_source, m.reachable, m.facts = "check", True, {"hostname": "pinned-one"}
    m.host_key, m.host_key_source = OTHER_KEY, "first_use"
    _apply(m, Observation(facts=FACTS, presented_host_key=KEY), utcnow())
    assert (m.host_key, m.host_key_source) == (OTHER_KEY, "first_use")
    assert (m.status, m.reachable, m.check_reason) == ("unavailable", False, "host_key_mismatch")
    assert m.check_error == (
        f"host key of 10.0.0.5 changed: expected {fingerprint(OTHER_KEY)}, "
        f"presented {fingerprint(KEY)}"
    )
    assert m.facts == {"hostname": "pinned-one"}


def test_an_operators_unavailable_survives_a_passed_check() -> None:
    m = machine("unavailable")
    m.status_source = "operator"
    _apply(m, Observation(facts=FACTS, presented_host_key=KEY), utcnow())
    assert (m.status, m.status_message, m.reachable) == ("unavailable", "by hand", True)

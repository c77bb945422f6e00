"""Machine credentials are encrypted at rest, never returned, never logged and redacted
from audit records: after creating, updating and failing to create machines with a
password, a private key and its passphrase, none of them appears in any response, in the
server's log, in the audit records or in the database (its rows, and on SQLite its file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from taichu.db.models import metadata
from taichu.lab.ssh_hosts import SshHost
from tests.machines.serving import Inventory, machine_body, serve_inventory
from tests.support.waiting import wait_for

PASSWORD = "Pw-9f3a1c77-clear"
NEW_PASSWORD = "Pw-2b8e44d0-changed"
REFUSED_PASSWORD = "Pw-77aa1290-refused"
PASSPHRASE = "Pp-c0ffee42-phrase"


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    tmp = tmp_path_factory.mktemp("secrets")
    with serve_inventory(tmp, "secrets", TAICHU_LOG_LEVEL="debug") as served:
        yield served


def _key_pieces(private_key: str) -> list[str]:
    """The base64 body lines of a PEM key: any one of them leaking is a leak."""
    return [line for line in private_key.splitlines() if line and not line.startswith("-----")]


def _database_text(inv: Inventory) -> str:
    rows = []
    for table in metadata.sorted_tables:
        for row in inv.sql(f'SELECT * FROM "{table.name}"'):  # noqa: S608 - our table names
            rows.append(repr(tuple(row)))
    return "\n".join(rows)


def _sqlite_bytes(inv: Inventory) -> bytes:
    if not inv.database_url.startswith("sqlite"):
        return b""
    path = Path(inv.database_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_no_credential_in_responses_logs_audit_or_database(inv: Inventory) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    private_key = key.export_private_key("pkcs8-pem", passphrase=PASSPHRASE).decode()
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    responses = []
    created = inv.post(
        "/api/v1/machines",
        machine_body(
            "secret-1",
            "192.0.2.200",
            password=PASSWORD,
            private_key=private_key,
            passphrase=PASSPHRASE,
        ),
    )
    assert created.status_code == 200, created.text
    responses.append(created)
    machine_id = created.json()["data"]["id"]
    assert created.json()["data"]["has_private_key"] is True
    updated = inv.put(
        f"/api/v1/machines/{machine_id}",
        machine_body("secret-1", "192.0.2.200", password=NEW_PASSWORD),
    )
    assert updated.status_code == 200, updated.text
    responses.append(updated)
    refused = inv.post(
        "/api/v1/machines",
        machine_body("secret-2", "192.0.2.201", role="boss", password=REFUSED_PASSWORD),
    )
    assert refused.status_code == 422
    responses.append(refused)
    bad_key = inv.post(
        "/api/v1/machines",
        machine_body("secret-3", "192.0.2.202", private_key=other_key[:-60], password=...),
    )
    assert bad_key.status_code == 422
    responses.append(bad_key)
    responses.append(inv.get(f"/api/v1/machines/{machine_id}"))
    responses.append(inv.get("/api/v1/machines"))
    audit = inv.get("/api/v1/audit", limit=100)
    assert audit.status_code == 200
    records = audit.json()["data"]["events"]
    machine_records = [r for r in records if r["resource"] == "machine"]
    assert {r["action"] for r in machine_records} >= {"create", "update"}
    # The key must have been stored (encrypted): the row has ciphertext, not plaintext.
    stored = inv.sql(
        "SELECT password_encrypted, private_key_encrypted, passphrase_encrypted "
        "FROM machines WHERE id = :id",
        id=machine_id,
    )
    assert all(stored[0])

    secrets = [PASSWORD, NEW_PASSWORD, REFUSED_PASSWORD, PASSPHRASE]
    pieces = _key_pieces(private_key) + _key_pieces(other_key)
    haystacks = {
        "responses": "\n".join(r.text for r in responses),
        "audit": audit.text,
        "server log": inv.log_path.read_text(errors="replace"),
        "database rows": _database_text(inv),
        "sqlite file": _sqlite_bytes(inv).decode("latin-1"),
    }
    for where, haystack in haystacks.items():
        for secret in secrets:
            assert secret not in haystack, f"{secret} found in {where}"
        for piece in pieces:
            assert piece not in haystack, f"a line of a private key found in {where}"


async def test_a_real_login_leaves_no_credential_behind(
    inv: Inventory, ssh_hosts: list[SshHost]
) -> None:
    """The same over a real check (the SSH adapter logs at debug level here)."""
    by_password, by_key = ssh_hosts[0], ssh_hosts[1]
    made = []
    for name, host, fields in (
        ("real-password", by_password, {"password": by_password.password}),
        ("real-key", by_key, {"password": ..., "private_key": by_key.private_key}),
    ):
        body = machine_body(name, host.address, port=host.port, **fields)
        response = inv.post("/api/v1/machines", body)
        assert response.status_code == 200, response.text
        made.append(response.json()["data"]["id"])
    for machine_id in made:
        await wait_for(lambda i=machine_id: inv.machine(i), lambda m: m["status"] == "available")
    haystacks = {
        "server log": inv.log_path.read_text(errors="replace"),
        "database rows": _database_text(inv),
        "sqlite file": _sqlite_bytes(inv).decode("latin-1"),
        "audit": inv.get("/api/v1/audit", limit=100).text,
    }
    for where, haystack in haystacks.items():
        assert by_password.password not in haystack, f"password found in {where}"
        for piece in _key_pieces(by_key.private_key):
            assert piece not in haystack, f"a line of a private key found in {where}"

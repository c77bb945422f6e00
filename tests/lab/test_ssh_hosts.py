"""The lab's SSH hosts: sshd in network namespaces with private filesystems."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from taichu.lab.pytest_fixtures import HostFactory
from taichu.lab.ssh_hosts import SshHost, wait_refused

pytestmark = pytest.mark.lab


def _connect(host: SshHost, *, key: bool = False) -> Any:  # asyncssh's connect manager
    if key:
        return asyncssh.connect(
            host.address,
            host.port,
            username=host.username,
            known_hosts=None,
            client_keys=[asyncssh.import_private_key(host.private_key)],
            password=None,
        )
    return asyncssh.connect(
        host.address,
        host.port,
        username=host.username,
        password=host.password,
        known_hosts=None,
        client_keys=None,
    )


async def _run(host: SshHost, command: str, *, key: bool = False) -> str:
    async with _connect(host, key=key) as conn:
        return str((await conn.run(command, check=True)).stdout)


async def test_hosts_answer_with_their_own_hostnames(ssh_hosts: list[SshHost]) -> None:
    by_password = await _run(ssh_hosts[0], "hostname")
    by_key = await _run(ssh_hosts[1], "hostname", key=True)
    third = await _run(ssh_hosts[2], "hostname")
    names = [by_password.strip(), by_key.strip(), third.strip()]
    assert names == [h.hostname for h in ssh_hosts]
    assert len(set(names)) == 3


async def test_host_key_matches_what_the_lab_reports(ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[0]
    known = asyncssh.import_known_hosts(host.known_hosts_line + "\n")
    async with asyncssh.connect(
        host.address,
        username="root",
        password=host.password,
        known_hosts=known,
        client_keys=None,
    ) as conn:
        assert (await conn.run("id -u", check=True)).stdout == "0\n"


def _exists_here(path: str) -> bool:
    return Path(path).exists()


def _real_root_shadow() -> str:
    return next(ln for ln in Path("/etc/shadow").read_text().splitlines() if ln.startswith("root:"))


async def test_each_host_sees_only_its_own_opt(ssh_hosts: list[SshHost]) -> None:
    marker = f"/opt/marker-{uuid.uuid4().hex}"
    # Written by SFTP, the way the platform copies files to machines.
    async with (
        _connect(ssh_hosts[0], key=True) as conn,
        conn.start_sftp_client() as sftp,
        sftp.open(marker, "w") as f,
    ):
        await f.write("here\n")
    try:
        assert (await _run(ssh_hosts[0], f"cat {marker}")).strip() == "here"
        for other in ssh_hosts[1:]:
            assert (await _run(other, f"test -e {marker} && echo yes || echo no")).strip() == "no"
        assert not _exists_here(marker)
    finally:
        await _run(ssh_hosts[0], f"rm -f {marker}")


async def test_root_password_is_the_hosts_own(ssh_hosts: list[SshHost]) -> None:
    real = _real_root_shadow()
    seen = {(await _run(h, "grep ^root: /etc/shadow")).strip() for h in ssh_hosts}
    assert len(seen) == 3 and real not in seen
    with pytest.raises(asyncssh.PermissionDenied):
        async with asyncssh.connect(
            ssh_hosts[0].address,
            username="root",
            password=ssh_hosts[1].password,
            known_hosts=None,
            client_keys=None,
        ):
            pass


async def test_stopped_host_refuses_until_restarted(ssh_host_factory: HostFactory) -> None:
    (host,) = ssh_host_factory(1)
    await _run(host, "mkdir -p /etc/kubernetes && echo kept > /etc/kubernetes/state")
    host.stop()
    wait_refused(host)
    with pytest.raises(OSError):
        async with _connect(host):
            pass
    host.start()
    assert (await _run(host, "cat /etc/kubernetes/state", key=True)).strip() == "kept"
